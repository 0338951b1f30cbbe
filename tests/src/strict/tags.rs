//! The tags of an existing resource, read from moto directly (not through the layer) with the
//! harness's own identity: they are the `aws:ResourceTag/*` of a call on that resource.

use std::collections::BTreeMap;

fn auth(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=strict-layer/20260101/{}/{service}/aws4_request, SignedHeaders=host, Signature=0",
        crate::moto::REGION
    )
}

async fn json_call(
    http: &reqwest::Client,
    backend: &str,
    service: &str,
    target: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let answer = http
        .post(format!("{backend}/"))
        .header("authorization", auth(service))
        .header("x-amz-target", target)
        .header("content-type", "application/x-amz-json-1.1")
        .body(body.to_string())
        .send()
        .await;
    match answer {
        Ok(r) if r.status().is_success() => {
            serde_json::from_slice(&r.bytes().await.unwrap_or_default()).unwrap_or_default()
        }
        _ => serde_json::Value::Null,
    }
}

fn pairs(list: &serde_json::Value, key: &str, value: &str) -> BTreeMap<String, String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some((
                t[key].as_str()?.to_string(),
                t[value].as_str().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

/// `<Key>k</Key><Value>v</Value>` pairs of an ELB DescribeTags answer.
pub fn xml_tags(xml: &str) -> BTreeMap<String, String> {
    let text = |s: &str, tag: &str| -> Option<String> {
        let open = format!("<{tag}>");
        let start = s.find(&open)? + open.len();
        let end = s[start..].find(&format!("</{tag}>"))? + start;
        Some(s[start..end].to_string())
    };
    xml.split("<member>")
        .filter_map(|m| Some((text(m, "Key")?, text(m, "Value").unwrap_or_default())))
        .collect()
}

/// The tags of the resource `arn` (none if it does not exist or is of a kind without tags here).
pub async fn of(http: &reqwest::Client, backend: &str, arn: &str) -> BTreeMap<String, String> {
    let mut parts = arn.splitn(6, ':');
    let (service, resource) = (
        parts.nth(2).unwrap_or_default(),
        parts.nth(2).unwrap_or_default(),
    );
    let by_arn = serde_json::json!({"resourceArn": arn});
    match service {
        "ecs" => {
            let out = json_call(
                http,
                backend,
                "ecs",
                "AmazonEC2ContainerServiceV20141113.ListTagsForResource",
                by_arn,
            )
            .await;
            pairs(&out["tags"], "key", "value")
        }
        "ecr" => {
            let out = json_call(
                http,
                backend,
                "ecr",
                "AmazonEC2ContainerRegistry_V20150921.ListTagsForResource",
                by_arn,
            )
            .await;
            pairs(&out["tags"], "Key", "Value")
        }
        "logs" => {
            let name = resource
                .trim_start_matches("log-group:")
                .trim_end_matches(":*");
            let out = json_call(
                http,
                backend,
                "logs",
                "Logs_20140328.ListTagsLogGroup",
                serde_json::json!({"logGroupName": name}),
            )
            .await;
            out["tags"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default()
        }
        "elasticloadbalancing" => {
            let body = format!(
                "Action=DescribeTags&Version=2015-12-01&ResourceArns.member.1={}",
                form_urlencoded::byte_serialize(arn.as_bytes()).collect::<String>()
            );
            let answer = http
                .post(format!("{backend}/"))
                .header("authorization", auth("elasticloadbalancing"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await;
            match answer {
                Ok(r) if r.status().is_success() => {
                    let text = r.text().await.unwrap_or_default();
                    // Only the TagDescriptions' tags: skip the envelope before the first <Tags>.
                    text.split_once("<Tags>")
                        .map(|(_, t)| xml_tags(t))
                        .unwrap_or_default()
                }
                _ => BTreeMap::new(),
            }
        }
        _ => BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn elb_tags_are_read_from_the_members() {
        let xml = "<Tags><member><Value>s1</Value><Key>skyhigh:stack</Key></member><member><Key>empty</Key></member></Tags>";
        let tags = super::xml_tags(xml);
        assert_eq!(tags["skyhigh:stack"], "s1");
        assert_eq!(tags["empty"], "");
    }
}
