//! The network moto needs before a load balancer or service can be created (subnets and
//! security groups must exist in its EC2). Sent as plain EC2 Query API calls, so that no
//! aws-sdk-ec2 is compiled: in a real deployment template.yaml creates these natively.

use crate::moto::REGION;

#[derive(Debug, Clone)]
pub struct Network {
    pub vpc_id: String,
    pub public_subnets: Vec<String>,
    pub private_subnets: Vec<String>,
    pub alb_security_group: String,
    pub task_security_group: String,
}

/// One EC2 Query API call; returns the text of the first `<tag>` in the answer.
pub async fn call(endpoint: &str, params: &[(&str, &str)], tag: &str) -> String {
    let mut form: Vec<(&str, &str)> = vec![("Version", "2016-11-15")];
    form.extend_from_slice(params);
    let body = form
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace('/', "%2F").replace(' ', "%20")))
        .collect::<Vec<_>>()
        .join("&");
    // moto routes on the credential scope of the Authorization header; it does not check it.
    let auth = format!("AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/ec2/aws4_request, SignedHeaders=host, Signature=0");
    let text = reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .header("authorization", auth)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("moto answers EC2 calls")
        .text()
        .await
        .expect("EC2 answer is text");
    let open = format!("<{tag}>");
    let start = text
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag}> in EC2 answer: {text}"))
        + open.len();
    let end = text[start..]
        .find('<')
        .map(|i| start + i)
        .unwrap_or(text.len());
    text[start..end].to_string()
}

/// One call to a JSON-protocol service moto plays but no crate here is built for (ACM).
pub async fn json_call(
    endpoint: &str,
    service: &str,
    target: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let auth = format!("AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0");
    reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .header("authorization", auth)
        .header("x-amz-target", target)
        .header("content-type", "application/x-amz-json-1.1")
        .body(body.to_string())
        .send()
        .await
        .expect("moto answers")
        .bytes()
        .await
        .map(|b| serde_json::from_slice(&b).expect("a JSON answer"))
        .expect("an answer body")
}

/// A VPC with public and private subnets in two AZs and the two security groups.
pub async fn create_network(endpoint: &str, name: &str) -> Network {
    let vpc_id = call(
        endpoint,
        &[("Action", "CreateVpc"), ("CidrBlock", "10.0.0.0/16")],
        "vpcId",
    )
    .await;
    let mut subnets = Vec::new();
    for (i, az) in ["a", "b", "a", "b"].iter().enumerate() {
        let cidr = format!("10.0.{i}.0/24");
        let zone = format!("{REGION}{az}");
        subnets.push(
            call(
                endpoint,
                &[
                    ("Action", "CreateSubnet"),
                    ("VpcId", &vpc_id),
                    ("CidrBlock", &cidr),
                    ("AvailabilityZone", &zone),
                ],
                "subnetId",
            )
            .await,
        );
    }
    let mut groups = Vec::new();
    for role in ["alb", "tasks"] {
        let group_name = format!("{name}-{role}");
        groups.push(
            call(
                endpoint,
                &[
                    ("Action", "CreateSecurityGroup"),
                    ("GroupName", &group_name),
                    ("GroupDescription", &group_name),
                    ("VpcId", &vpc_id),
                ],
                "groupId",
            )
            .await,
        );
    }
    Network {
        vpc_id,
        public_subnets: subnets[..2].to_vec(),
        private_subnets: subnets[2..].to_vec(),
        alb_security_group: groups[0].clone(),
        task_security_group: groups[1].clone(),
    }
}
