//! The paging loop every list/describe call goes through, written against a tiny trait so that a
//! unit test can feed it fake pages (moto ignores maxResults on DescribeImages: it never pages).

use crate::error::{PruneError, Result};
use std::collections::HashSet;
use std::future::Future;

/// One page of a paginated AWS call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_token: Option<String>,
}

/// A paginated call: fetches the page that `token` names (None: the first).
pub trait Pages {
    type Item;
    /// The AWS operation, for error messages.
    const OPERATION: &'static str;
    fn page(
        &mut self,
        token: Option<String>,
    ) -> impl Future<Output = Result<Page<Self::Item>>> + Send;
}

/// Fetches pages until there is no next token, or until `enough` says the items so far suffice
/// (ListTaskDefinitions sorted newest first needs only its first revisions). Linear in the
/// number of items. A token handed back twice is an error rather than an endless loop.
pub async fn collect<P: Pages>(
    pages: &mut P,
    mut enough: impl FnMut(&[P::Item]) -> bool,
) -> Result<(Vec<P::Item>, usize)> {
    let mut items = Vec::new();
    let mut seen_tokens = HashSet::new();
    let mut token = None;
    let mut calls = 0;
    loop {
        let page = pages.page(token.take()).await?;
        calls += 1;
        items.extend(page.items);
        match page.next_token.filter(|t| !t.is_empty()) {
            None => break,
            Some(_) if enough(&items) => break,
            Some(next) => {
                if !seen_tokens.insert(next.clone()) {
                    return Err(PruneError::PagingLoop {
                        operation: P::OPERATION,
                        token: next,
                    });
                }
                token = Some(next);
            }
        }
    }
    Ok((items, calls))
}

/// Every item of every page.
pub async fn collect_all<P: Pages>(pages: &mut P) -> Result<Vec<P::Item>> {
    Ok(collect(pages, |_| false).await?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fake DescribeImages: `total` digests served `per_page` at a time, tokens "p1", "p2", ….
    struct FakeImages {
        total: usize,
        per_page: usize,
        requests: Vec<Option<String>>,
    }

    impl Pages for FakeImages {
        type Item = String;
        const OPERATION: &'static str = "fake:DescribeImages";
        fn page(
            &mut self,
            token: Option<String>,
        ) -> impl Future<Output = Result<Page<String>>> + Send {
            self.requests.push(token.clone());
            let index: usize = token.map_or(0, |t| t[1..].parse().unwrap());
            let start = index * self.per_page;
            let end = (start + self.per_page).min(self.total);
            let page = Page {
                items: (start..end).map(|i| format!("sha256:{i:05}")).collect(),
                next_token: (end < self.total).then(|| format!("p{}", index + 1)),
            };
            async move { Ok(page) }
        }
    }

    #[tokio::test]
    async fn every_page_is_fetched_once_in_order() {
        let mut fake = FakeImages {
            total: 10_000,
            per_page: 1000,
            requests: vec![],
        };
        let items = collect_all(&mut fake).await.unwrap();
        assert_eq!(items.len(), 10_000);
        assert_eq!(items[0], "sha256:00000");
        assert_eq!(items[9_999], "sha256:09999");
        assert_eq!(fake.requests.len(), 10);
        assert_eq!(fake.requests[0], None);
        assert_eq!(fake.requests[1].as_deref(), Some("p1"));
        assert_eq!(fake.requests[9].as_deref(), Some("p9"));
    }

    #[tokio::test]
    async fn a_single_page_an_empty_result_and_an_uneven_last_page() {
        for (total, per_page, calls) in [(0, 1000, 1), (999, 1000, 1), (2_500, 1000, 3), (7, 2, 4)]
        {
            let mut fake = FakeImages {
                total,
                per_page,
                requests: vec![],
            };
            let items = collect_all(&mut fake).await.unwrap();
            assert_eq!(items.len(), total);
            assert_eq!(fake.requests.len(), calls, "{total}/{per_page}");
        }
    }

    #[tokio::test]
    async fn paging_stops_early_when_enough_items_are_in() {
        let mut fake = FakeImages {
            total: 100,
            per_page: 10,
            requests: vec![],
        };
        let (items, calls) = collect(&mut fake, |items| items.len() >= 15).await.unwrap();
        assert_eq!((items.len(), calls), (20, 2));
    }

    struct Repeating;

    impl Pages for Repeating {
        type Item = u8;
        const OPERATION: &'static str = "fake:Loop";
        async fn page(&mut self, _token: Option<String>) -> Result<Page<u8>> {
            Ok(Page {
                items: vec![1],
                next_token: Some("same".into()),
            })
        }
    }

    #[tokio::test]
    async fn a_repeated_token_is_an_error_not_an_endless_loop() {
        let e = collect_all(&mut Repeating).await.unwrap_err();
        assert!(e.to_string().contains("fake:Loop"), "{e}");
    }

    struct Failing;

    impl Pages for Failing {
        type Item = u8;
        const OPERATION: &'static str = "fake:Fail";
        async fn page(&mut self, _token: Option<String>) -> Result<Page<u8>> {
            Err(operator_common::error::AwsError::new("fake:Fail", "throttled").into())
        }
    }

    #[tokio::test]
    async fn an_error_on_any_page_fails_the_whole_listing() {
        assert!(collect_all(&mut Failing).await.is_err());
    }
}
