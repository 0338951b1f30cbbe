use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest as CfnRequest;
use serde_json::{Map, Value};

/// What CloudFormation asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestKind {
    Create,
    Update {
        physical_id: String,
        old_properties: Map<String, Value>,
    },
    Delete {
        physical_id: String,
    },
}

/// A custom-resource request, with the parts every resource handler needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub kind: RequestKind,
    pub request_id: String,
    pub response_url: String,
    pub stack_id: String,
    pub resource_type: String,
    pub logical_resource_id: String,
    /// ResourceProperties, including the ServiceToken CloudFormation adds.
    pub properties: Map<String, Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Not a custom-resource request at all: there is nowhere to answer.
    #[error("not a CloudFormation custom-resource request: {0}")]
    NotARequest(String),
    /// A request whose properties are not a map: answerable, and answered FAILED.
    #[error("ResourceProperties must be a map")]
    PropertiesNotAMap(Box<Request>),
}

fn into_map(value: Value) -> Option<Map<String, Value>> {
    match value {
        Value::Object(m) => Some(m),
        Value::Null => Some(Map::new()),
        _ => None,
    }
}

impl Request {
    /// Parses the event Lambda delivers.
    pub fn parse(event: Value) -> Result<Request, ParseError> {
        let parsed: CfnRequest =
            serde_json::from_value(event).map_err(|e| ParseError::NotARequest(e.to_string()))?;
        let (kind, common, props) = match parsed {
            CfnRequest::Create(r) => (
                RequestKind::Create,
                (
                    r.request_id,
                    r.response_url,
                    r.stack_id,
                    r.resource_type,
                    r.logical_resource_id,
                ),
                r.resource_properties,
            ),
            CfnRequest::Update(r) => (
                RequestKind::Update {
                    physical_id: r.physical_resource_id,
                    old_properties: into_map(r.old_resource_properties).unwrap_or_default(),
                },
                (
                    r.request_id,
                    r.response_url,
                    r.stack_id,
                    r.resource_type,
                    r.logical_resource_id,
                ),
                r.resource_properties,
            ),
            CfnRequest::Delete(r) => (
                RequestKind::Delete {
                    physical_id: r.physical_resource_id,
                },
                (
                    r.request_id,
                    r.response_url,
                    r.stack_id,
                    r.resource_type,
                    r.logical_resource_id,
                ),
                r.resource_properties,
            ),
            _ => return Err(ParseError::NotARequest("unknown RequestType".into())),
        };
        let (request_id, response_url, stack_id, resource_type, logical_resource_id) = common;
        let properties = into_map(props);
        let request = Request {
            kind,
            request_id,
            response_url,
            stack_id,
            resource_type,
            logical_resource_id,
            properties: properties.clone().unwrap_or_default(),
        };
        match properties {
            Some(_) => Ok(request),
            None => Err(ParseError::PropertiesNotAMap(Box::new(request))),
        }
    }

    /// The physical id CloudFormation knows, if any (Update and Delete).
    pub fn physical_id(&self) -> Option<&str> {
        match &self.kind {
            RequestKind::Create => None,
            RequestKind::Update { physical_id, .. } | RequestKind::Delete { physical_id } => {
                Some(physical_id)
            }
        }
    }

    /// "Create", "Update" or "Delete", for logs and reasons.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            RequestKind::Create => "Create",
            RequestKind::Update { .. } => "Update",
            RequestKind::Delete { .. } => "Delete",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: &str) -> Value {
        let mut e = json!({
            "RequestType": kind,
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:provisioner",
            "ResponseURL": "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x?sig",
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/app/guid",
            "RequestId": "unique-id",
            "LogicalResourceId": "AppRepository",
            "ResourceType": "Custom::Repository",
            "ResourceProperties": {"ServiceToken": "arn", "RepositoryName": "app", "KeepImages": "10"}
        });
        if kind != "Create" {
            e["PhysicalResourceId"] = json!("app");
        }
        if kind == "Update" {
            e["OldResourceProperties"] = json!({"RepositoryName": "app", "KeepImages": "5"});
        }
        e
    }

    #[test]
    fn parses_the_three_request_types() {
        let c = Request::parse(event("Create")).unwrap();
        assert_eq!(c.kind, RequestKind::Create);
        assert_eq!(c.properties["KeepImages"], json!("10"));
        let u = Request::parse(event("Update")).unwrap();
        match &u.kind {
            RequestKind::Update {
                physical_id,
                old_properties,
            } => {
                assert_eq!(physical_id, "app");
                assert_eq!(old_properties["KeepImages"], json!("5"));
            }
            other => panic!("{other:?}"),
        }
        let d = Request::parse(event("Delete")).unwrap();
        assert_eq!(d.physical_id(), Some("app"));
        assert_eq!(d.kind_name(), "Delete");
    }

    #[test]
    fn rejects_what_is_not_a_request() {
        assert!(matches!(
            Request::parse(json!({"source": "aws.ecr"})),
            Err(ParseError::NotARequest(_))
        ));
        let mut e = event("Create");
        e["ResourceProperties"] = json!("oops");
        assert!(matches!(
            Request::parse(e),
            Err(ParseError::PropertiesNotAMap(_))
        ));
    }
}
