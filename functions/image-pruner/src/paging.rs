//! Every list and describe call pages through the SDK's paginators (`into_paginator()`); this
//! adds the one check they lack. A paginator ends the listing silently, as if it were complete,
//! when a token comes back twice in a row (`stop_on_duplicate_token`, its default), and never
//! notices a longer cycle: a running task missed that way would leave its image unprotected.
//! So a token handed back twice is an error here.

use crate::error::{PruneError, Result};
use std::collections::HashSet;

/// The page tokens a listing has handed back so far.
#[derive(Debug)]
pub struct Tokens {
    operation: &'static str,
    seen: HashSet<String>,
}

impl Tokens {
    /// `operation` names the call in the error (`ecr:DescribeImages`).
    pub fn new(operation: &'static str) -> Self {
        Tokens {
            operation,
            seen: HashSet::new(),
        }
    }

    /// Checks the next token of the page just read (None or empty: the last page).
    pub fn check(&mut self, next: Option<&str>) -> Result<()> {
        match next {
            Some(token) if !token.is_empty() && !self.seen.insert(token.to_string()) => {
                Err(PruneError::PagingLoop {
                    operation: self.operation,
                    token: token.to_string(),
                })
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_seen_before_is_an_error_the_last_page_is_not() {
        let mut tokens = Tokens::new("ecs:ListTasks");
        for next in [Some("a"), Some("b"), Some(""), None, None, Some("c")] {
            tokens.check(next).unwrap();
        }
        for again in ["a", "b", "c"] {
            let e = tokens.check(Some(again)).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("ecs:ListTasks repeated its page token \"{again}\": stopped")
            );
        }
    }
}
