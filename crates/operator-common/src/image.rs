//! Container image references, as task definitions and ECR name them:
//! `[registry[:port]/]repository[:tag][@digest]`, read once here for every function.

use std::fmt;
use std::str::FromStr;

/// A parsed image reference. `123456789012.dkr.ecr.us-east-1.amazonaws.com/sky:v2` has the
/// registry `123456789012.dkr.ecr.us-east-1.amazonaws.com`, the repository `sky` and the tag
/// `v2`; `localhost:5000/team/app@sha256:…` the registry `localhost:5000`, the repository
/// `team/app` and a digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// The first path component when it names a host: it has a `.` or a `:` (a port), or is
    /// `localhost` (Docker's rule). `nginx` and `library/nginx` have none.
    pub registry: Option<String>,
    /// The path after the registry: the ECR repository name.
    pub repository: String,
    pub tag: Option<String>,
    /// `algorithm:hex`, e.g. `sha256:…`. When both are given, ECS runs the digest.
    pub digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{image:?} is not an image reference: {why}")]
pub struct ImageRefError {
    pub image: String,
    pub why: &'static str,
}

fn valid_tag(tag: &str) -> bool {
    tag.len() <= 128
        && tag
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn valid_digest(digest: &str) -> bool {
    digest.split_once(':').is_some_and(|(algorithm, hex)| {
        !algorithm.is_empty()
            && !hex.is_empty()
            && hex.chars().all(|c| c.is_ascii_alphanumeric() || c == '=')
    })
}

impl ImageRef {
    pub fn parse(image: &str) -> Result<ImageRef, ImageRefError> {
        let fail = |why| ImageRefError {
            image: image.to_string(),
            why,
        };
        let (name, digest) = match image.split_once('@') {
            Some((name, digest)) if valid_digest(digest) => (name, Some(digest.to_string())),
            Some(_) => return Err(fail("the digest is not algorithm:hex")),
            None => (image, None),
        };
        // A colon after the last slash is a tag; before it, a registry port.
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (path, tag) = match name[last_slash..].rfind(':') {
            Some(i) => {
                let tag = &name[last_slash + i + 1..];
                if !valid_tag(tag) {
                    return Err(fail("the tag is not 1-128 letters, digits, '_', '.', '-'"));
                }
                (&name[..last_slash + i], Some(tag.to_string()))
            }
            None => (name, None),
        };
        let (registry, repository) = match path.split_once('/') {
            Some((host, rest))
                if host.contains('.') || host.contains(':') || host == "localhost" =>
            {
                (Some(host.to_string()), rest)
            }
            _ => (None, path),
        };
        if repository.split('/').any(str::is_empty)
            || registry.as_deref() == Some("")
            || path.chars().any(|c| c.is_whitespace() || c == '@')
        {
            return Err(fail("the repository path is empty or has an empty part"));
        }
        Ok(ImageRef {
            registry,
            repository: repository.to_string(),
            tag,
            digest,
        })
    }

    /// `registry/repository`, without tag or digest (an ECR repository's URI).
    pub fn name(&self) -> String {
        match &self.registry {
            Some(r) => format!("{r}/{}", self.repository),
            None => self.repository.clone(),
        }
    }

    /// The same repository's image `digest`: `registry/repository@digest` (no tag).
    pub fn with_digest(&self, digest: &str) -> ImageRef {
        ImageRef {
            tag: None,
            digest: Some(digest.to_string()),
            ..self.clone()
        }
    }

    /// The tag, or `latest` when neither a tag nor a digest is given (what a pull resolves).
    pub fn tag_or_latest(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(t), _) => Some(t),
            (None, None) => Some("latest"),
            (None, Some(_)) => None,
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageRef {
    type Err = ImageRefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageRef::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ECR: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
    const DIGEST: &str = "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234";

    fn image(
        registry: Option<&str>,
        repository: &str,
        tag: Option<&str>,
        digest: Option<&str>,
    ) -> ImageRef {
        ImageRef {
            registry: registry.map(str::to_string),
            repository: repository.into(),
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        }
    }

    #[test]
    fn the_forms_a_task_definition_uses() {
        for (text, expected) in [
            (
                format!("{ECR}/sky@{DIGEST}"),
                image(Some(ECR), "sky", None, Some(DIGEST)),
            ),
            (
                format!("{ECR}/sky:v2"),
                image(Some(ECR), "sky", Some("v2"), None),
            ),
            (
                format!("{ECR}/team/app"),
                image(Some(ECR), "team/app", None, None),
            ),
            (
                format!("{ECR}/sky:v2@{DIGEST}"),
                image(Some(ECR), "sky", Some("v2"), Some(DIGEST)),
            ),
            (
                "localhost:5000/app".into(),
                image(Some("localhost:5000"), "app", None, None),
            ),
            (
                "localhost:5000/app:1.0".into(),
                image(Some("localhost:5000"), "app", Some("1.0"), None),
            ),
            (
                "localhost/app".into(),
                image(Some("localhost"), "app", None, None),
            ),
            ("nginx".into(), image(None, "nginx", None, None)),
            (
                "library/nginx:1.27".into(),
                image(None, "library/nginx", Some("1.27"), None),
            ),
            (
                "public.ecr.aws/nginx/nginx:latest".into(),
                image(Some("public.ecr.aws"), "nginx/nginx", Some("latest"), None),
            ),
        ] {
            assert_eq!(ImageRef::parse(&text), Ok(expected.clone()), "{text}");
            assert_eq!(expected.to_string(), text, "prints back");
        }
    }

    #[test]
    fn what_is_not_an_image_is_refused() {
        for text in [
            "",
            "sky:",
            "sky@",
            "sky@sha256",
            "sky@sha256:",
            "/sky",
            "sky/",
            "host.com/",
            "sky:v 2",
            "sky:-v2",
            "a b/c",
            "sky@sha256:ab@sha256:cd",
        ] {
            assert!(ImageRef::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn the_name_drops_tag_and_digest_and_a_digest_replaces_both() {
        let tagged = ImageRef::parse(&format!("{ECR}/sky:v2@{DIGEST}")).unwrap();
        assert_eq!(tagged.name(), format!("{ECR}/sky"));
        assert_eq!(
            tagged.with_digest("sha256:1").to_string(),
            format!("{ECR}/sky@sha256:1")
        );
        assert_eq!(
            ImageRef::parse("sky").unwrap().tag_or_latest(),
            Some("latest")
        );
        assert_eq!(tagged.tag_or_latest(), Some("v2"));
        assert_eq!(
            ImageRef::parse(&format!("sky@{DIGEST}"))
                .unwrap()
                .tag_or_latest(),
            None
        );
    }

    proptest! {
        #[test]
        fn what_is_printed_parses_back(
            registry in proptest::option::of("[a-z0-9]{1,8}\\.[a-z]{2,5}(:[0-9]{1,5})?"),
            repository in "[a-z0-9]{1,8}(/[a-z0-9._-]{1,8}){0,2}",
            tag in proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
            digest in proptest::option::of("sha256:[0-9a-f]{64}"),
        ) {
            let image = ImageRef { registry, repository, tag, digest };
            prop_assert_eq!(ImageRef::parse(&image.to_string()), Ok(image));
        }
    }
}
