//! Reads template.yaml and resolves its intrinsic functions the way CloudFormation would, so
//! that the local demo deploys exactly the properties the template declares (it is the single
//! source of truth) in CloudFormation's dependency order.

use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[derive(Debug, Clone)]
pub struct Resource {
    pub logical_id: String,
    pub kind: String,
    pub properties: Value,
    pub depends_on: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Template {
    pub parameters: Map<String, Value>,
    pub conditions: Map<String, Value>,
    pub resources: BTreeMap<String, Resource>,
    pub outputs: Map<String, Value>,
}

/// Short-form tags (`!Ref`, `!GetAtt`…) become the long form (`{"Ref": …}`, `{"Fn::GetAtt": […]}`).
fn to_json(value: serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(n).unwrap_or(Value::Null),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Y::Mapping(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    (
                        k.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| format!("{k:?}")),
                        to_json(v),
                    )
                })
                .collect(),
        ),
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = to_json(t.value);
            match name {
                "Ref" => json!({ "Ref": inner }),
                "Condition" => json!({ "Condition": inner }),
                "GetAtt" => match inner {
                    Value::String(s) => {
                        let (resource, attribute) = s.split_once('.').unwrap_or((&s, ""));
                        json!({ "Fn::GetAtt": [resource, attribute] })
                    }
                    other => json!({ "Fn::GetAtt": other }),
                },
                other => json!({ format!("Fn::{other}"): inner }),
            }
        }
    }
}

impl Template {
    pub fn load(path: &Path) -> Result<Template, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let yaml: serde_yaml::Value =
            serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let doc = to_json(yaml);
        let section = |name: &str| {
            doc.get(name)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default()
        };
        let resources = section("Resources")
            .into_iter()
            .map(|(id, r)| {
                let depends_on = match r.get("DependsOn") {
                    Some(Value::String(s)) => vec![s.clone()],
                    Some(Value::Array(items)) => items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect(),
                    _ => Vec::new(),
                };
                let resource = Resource {
                    logical_id: id.clone(),
                    kind: r["Type"].as_str().unwrap_or_default().to_string(),
                    properties: r.get("Properties").cloned().unwrap_or_else(|| json!({})),
                    depends_on,
                };
                (id, resource)
            })
            .collect();
        Ok(Template {
            parameters: section("Parameters"),
            conditions: section("Conditions"),
            resources,
            outputs: section("Outputs"),
        })
    }

    /// The template's managed policies that `function`'s `Policies` name (`!Ref X`).
    fn managed_policies_of(&self, function: &str) -> BTreeSet<String> {
        let policies = self
            .resources
            .get(function)
            .map(|r| &r.properties["Policies"]);
        policies
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p["Ref"].as_str())
            .filter(|id| {
                self.resources
                    .get(*id)
                    .is_some_and(|r| r.kind == "AWS::IAM::ManagedPolicy")
            })
            .map(str::to_string)
            .collect()
    }

    /// What `function`'s `Policies` grant, unresolved: each inline document, the
    /// `PolicyDocument` of each of the template's managed policies it names, and the names of
    /// AWS managed policies as they are.
    pub fn function_policies(&self, function: &str) -> Vec<Value> {
        let Some(resource) = self.resources.get(function) else {
            return Vec::new();
        };
        let managed = self.managed_policies_of(function);
        resource.properties["Policies"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| match p["Ref"].as_str() {
                Some(id) if managed.contains(id) => {
                    self.resources[id].properties["PolicyDocument"].clone()
                }
                _ => p.clone(),
            })
            .collect()
    }

    /// The policy documents of [`Template::function_policies`], to change in place.
    pub fn function_policy_documents_mut(&mut self, function: &str) -> Vec<&mut Value> {
        let managed = self.managed_policies_of(function);
        let mut documents = Vec::new();
        for (id, r) in self.resources.iter_mut() {
            if managed.contains(id) {
                documents.push(&mut r.properties["PolicyDocument"]);
            } else if id == function {
                if let Some(inline) = r.properties["Policies"].as_array_mut() {
                    documents.extend(inline.iter_mut().filter(|p| p.get("Statement").is_some()));
                }
            }
        }
        documents
    }

    /// The resources `value` refers to (Ref, GetAtt, and `${…}` in Sub).
    fn references(&self, value: &Value, out: &mut BTreeSet<String>) {
        match value {
            Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("Ref", Value::String(id)) if self.resources.contains_key(id) => {
                            out.insert(id.clone());
                        }
                        ("Fn::GetAtt", Value::Array(parts)) => {
                            if let Some(id) = parts.first().and_then(Value::as_str) {
                                out.insert(id.to_string());
                            }
                        }
                        ("Fn::Sub", v) => {
                            let text = v
                                .as_str()
                                .or_else(|| v.get(0).and_then(Value::as_str))
                                .unwrap_or_default();
                            for name in sub_names(text) {
                                let id = name.split('.').next().unwrap_or_default();
                                if self.resources.contains_key(id) {
                                    out.insert(id.to_string());
                                }
                            }
                            self.references(v, out);
                        }
                        _ => self.references(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| self.references(i, out)),
            _ => {}
        }
    }

    pub fn dependencies(&self, id: &str) -> BTreeSet<String> {
        let r = &self.resources[id];
        let mut out: BTreeSet<String> = r.depends_on.iter().cloned().collect();
        self.references(&r.properties, &mut out);
        out.remove(id);
        out
    }

    /// Every resource after the ones it depends on (ties by name, as a stable order).
    pub fn creation_order(&self) -> Result<Vec<String>, String> {
        let mut done: Vec<String> = Vec::new();
        let mut left: BTreeSet<String> = self.resources.keys().cloned().collect();
        while !left.is_empty() {
            let ready: Vec<String> = left
                .iter()
                .filter(|id| self.dependencies(id).iter().all(|d| done.contains(d)))
                .cloned()
                .collect();
            if ready.is_empty() {
                return Err(format!("circular dependency among {left:?}"));
            }
            for id in ready {
                left.remove(&id);
                done.push(id);
            }
        }
        Ok(done)
    }
}

/// The names inside `${…}` of a Sub string (skipping `${!literal}`).
fn sub_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let name = &after[..end];
        if !name.starts_with('!') {
            names.push(name.to_string());
        }
        rest = &after[end + 1..];
    }
    names
}

/// The values intrinsic functions resolve to, filled in as resources are made.
pub struct Resolver<'t> {
    pub template: &'t Template,
    pub parameters: BTreeMap<String, String>,
    pub physical_ids: BTreeMap<String, String>,
    pub attributes: BTreeMap<String, BTreeMap<String, String>>,
    pub region: String,
    pub account: String,
    pub stack_name: String,
}

/// A resolved value that says "leave this property out" (`!Ref AWS::NoValue`).
const NO_VALUE: &str = "\u{0}AWS::NoValue";

impl<'t> Resolver<'t> {
    /// Parameters take their defaults, then `overrides`.
    pub fn new(
        template: &'t Template,
        overrides: &BTreeMap<String, String>,
        stack_name: &str,
    ) -> Resolver<'t> {
        let mut parameters: BTreeMap<String, String> = template
            .parameters
            .iter()
            .map(|(k, p)| {
                let default = match p.get("Default") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                };
                (k.clone(), default)
            })
            .collect();
        parameters.extend(overrides.clone());
        Resolver {
            template,
            parameters,
            physical_ids: BTreeMap::new(),
            attributes: BTreeMap::new(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
            stack_name: stack_name.into(),
        }
    }

    fn reference(&self, name: &str) -> Result<String, String> {
        match name {
            "AWS::Region" => Ok(self.region.clone()),
            "AWS::AccountId" => Ok(self.account.clone()),
            "AWS::StackName" => Ok(self.stack_name.clone()),
            "AWS::Partition" => Ok("aws".into()),
            "AWS::URLSuffix" => Ok("amazonaws.com".into()),
            "AWS::NoValue" => Ok(NO_VALUE.into()),
            _ => self
                .parameters
                .get(name)
                .or_else(|| self.physical_ids.get(name))
                .cloned()
                .ok_or_else(|| format!("Ref {name}: not a parameter or a resource made so far")),
        }
    }

    fn attribute(&self, resource: &str, attribute: &str) -> Result<String, String> {
        self.attributes
            .get(resource)
            .and_then(|a| a.get(attribute))
            .cloned()
            .ok_or_else(|| format!("GetAtt {resource}.{attribute}: not known (yet)"))
    }

    pub fn condition(&self, name: &str) -> Result<bool, String> {
        let c = self
            .template
            .conditions
            .get(name)
            .ok_or_else(|| format!("unknown condition {name}"))?;
        self.truth(c)
    }

    fn truth(&self, v: &Value) -> Result<bool, String> {
        if let Some(name) = v.get("Condition").and_then(Value::as_str) {
            return self.condition(name);
        }
        let arg = |f: &str| v.get(f).and_then(Value::as_array).cloned();
        if let Some(a) = arg("Fn::Equals") {
            return Ok(self.resolve(&a[0])? == self.resolve(&a[1])?);
        }
        if let Some(a) = arg("Fn::Not") {
            return Ok(!self.truth(&a[0])?);
        }
        if let Some(a) = arg("Fn::And") {
            return a.iter().try_fold(true, |acc, c| Ok(acc && self.truth(c)?));
        }
        if let Some(a) = arg("Fn::Or") {
            return a.iter().try_fold(false, |acc, c| Ok(acc || self.truth(c)?));
        }
        Err(format!("not a condition: {v}"))
    }

    fn sub(&self, text: &str, vars: &Map<String, Value>) -> Result<String, String> {
        let mut out = text.to_string();
        for name in sub_names(text) {
            let value = match vars.get(&name) {
                Some(v) => scalar(&self.resolve(v)?),
                None => match name.split_once('.') {
                    Some((r, a)) => self.attribute(r, a)?,
                    None => self.reference(&name)?,
                },
            };
            out = out.replace(&format!("${{{name}}}"), &value);
        }
        Ok(out.replace("${!", "${"))
    }

    /// Resolves every intrinsic function in `v`.
    pub fn resolve(&self, v: &Value) -> Result<Value, String> {
        match v {
            Value::Array(items) => Ok(Value::Array(
                items
                    .iter()
                    .map(|i| self.resolve(i))
                    .collect::<Result<Vec<_>, _>>()?
                    .into_iter()
                    .filter(|i| i.as_str() != Some(NO_VALUE))
                    .collect(),
            )),
            Value::Object(m) if m.len() == 1 => {
                let (k, arg) = m.iter().next().expect("one entry");
                match k.as_str() {
                    "Ref" => Ok(Value::String(
                        self.reference(arg.as_str().unwrap_or_default())?,
                    )),
                    "Fn::GetAtt" => {
                        let r = arg.get(0).and_then(Value::as_str).unwrap_or_default();
                        let a = arg.get(1).and_then(Value::as_str).unwrap_or_default();
                        Ok(Value::String(self.attribute(r, a)?))
                    }
                    "Fn::Sub" => match arg {
                        Value::String(s) => Ok(Value::String(self.sub(s, &Map::new())?)),
                        Value::Array(a) => Ok(Value::String(self.sub(
                            a[0].as_str().unwrap_or_default(),
                            a.get(1).and_then(Value::as_object).unwrap_or(&Map::new()),
                        )?)),
                        other => Err(format!("Fn::Sub of {other}")),
                    },
                    "Fn::If" => {
                        let a = arg.as_array().ok_or("Fn::If takes a list")?;
                        let pick = if self.condition(a[0].as_str().unwrap_or_default())? {
                            &a[1]
                        } else {
                            &a[2]
                        };
                        self.resolve(pick)
                    }
                    "Fn::Join" => {
                        let a = arg.as_array().ok_or("Fn::Join takes a list")?;
                        let items = self.resolve(&a[1])?;
                        let parts: Vec<String> = items
                            .as_array()
                            .map(|i| i.iter().map(scalar).collect())
                            .unwrap_or_default();
                        Ok(Value::String(parts.join(a[0].as_str().unwrap_or_default())))
                    }
                    "Fn::Select" => {
                        let a = arg.as_array().ok_or("Fn::Select takes a list")?;
                        let index: usize = scalar(&self.resolve(&a[0])?)
                            .parse()
                            .map_err(|_| "Fn::Select index")?;
                        let list = self.resolve(&a[1])?;
                        list.get(index)
                            .cloned()
                            .ok_or_else(|| format!("Fn::Select {index} out of range"))
                    }
                    "Fn::GetAZs" => Ok(json!(["a", "b", "c"]
                        .iter()
                        .map(|z| format!("{}{z}", self.region))
                        .collect::<Vec<_>>())),
                    "Fn::Equals" | "Fn::Not" | "Fn::And" | "Fn::Or" | "Condition" => {
                        Ok(Value::Bool(self.truth(v)?))
                    }
                    _ => self.resolve_map(m),
                }
            }
            Value::Object(m) => self.resolve_map(m),
            other => Ok(other.clone()),
        }
    }

    fn resolve_map(&self, m: &Map<String, Value>) -> Result<Value, String> {
        let mut out = Map::new();
        for (k, v) in m {
            let r = self.resolve(v)?;
            if r.as_str() != Some(NO_VALUE) {
                out.insert(k.clone(), r);
            }
        }
        Ok(Value::Object(out))
    }
}

/// A scalar as CloudFormation passes it: text.
pub fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// template.yaml as CloudFormation receives it: expanded by SAM's own translator, offline
/// (tests/sam/expand.py, with .venv's Python).
pub fn expanded_by_sam() -> Value {
    let root = crate::moto::workspace_root();
    let out = std::process::Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tests/sam/expand.py"))
        .arg(root.join("template.yaml"))
        .output()
        .expect("run tests/sam/expand.py with .venv's Python (make tools installs it)");
    assert!(
        out.status.success(),
        "SAM's translator refused template.yaml: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Template {
        Template::load(&crate::moto::workspace_root().join("template.yaml")).unwrap()
    }

    #[test]
    fn the_environment_is_made_in_dependency_order() {
        let t = template();
        let order = t.creation_order().unwrap();
        let at = |id: &str| {
            order
                .iter()
                .position(|x| x == id)
                .unwrap_or_else(|| panic!("{id} missing"))
        };
        for before in [
            "Repository",
            "Cluster",
            "LoadBalancer",
            "TaskExecutionRole",
            "ProvisionerFunction",
            "PrivateRoute",
        ] {
            assert!(at(before) < at("Service"), "{before} before Service");
        }
        for before in ["Vpc", "PublicSubnetA", "AlbSecurityGroup", "PublicRoute"] {
            assert!(
                at(before) < at("LoadBalancer"),
                "{before} before LoadBalancer"
            );
        }
        let customs: Vec<&str> = t
            .resources
            .values()
            .filter(|r| r.kind.starts_with("Custom::"))
            .map(|r| r.kind.as_str())
            .collect();
        assert_eq!(customs.len(), 4);
    }

    #[test]
    fn properties_resolve_from_parameters_and_what_was_made() {
        let t = template();
        let mut r = Resolver::new(
            &t,
            &BTreeMap::from([("ImageTag".into(), "v2".into())]),
            "stack",
        );
        r.physical_ids
            .insert("PublicSubnetA".into(), "subnet-a".into());
        r.physical_ids
            .insert("PublicSubnetB".into(), "subnet-b".into());
        r.physical_ids.insert("Vpc".into(), "vpc-1".into());
        r.physical_ids
            .insert("AccessLogsBucket".into(), "access-logs".into());
        r.attributes.insert(
            "AlbSecurityGroup".into(),
            BTreeMap::from([("GroupId".into(), "sg-1".into())]),
        );
        r.attributes.insert(
            "ProvisionerFunction".into(),
            BTreeMap::from([("Arn".into(), "arn:fn".into())]),
        );
        let lb = r.resolve(&t.resources["LoadBalancer"].properties).unwrap();
        assert_eq!(lb["Subnets"], json!(["subnet-a", "subnet-b"]));
        assert_eq!(lb["SecurityGroups"], json!(["sg-1"]));
        assert_eq!(lb["Name"], json!("sky-high-booker"));
        assert_eq!(lb["AccessLogsBucket"], json!("access-logs"));
        assert!(
            lb.get("CertificateArn").is_none(),
            "no certificate: the property is left out"
        );
        let mut r2 = Resolver::new(
            &t,
            &BTreeMap::from([("CertificateArn".into(), "arn:cert".into())]),
            "stack",
        );
        r2.physical_ids = r.physical_ids.clone();
        r2.attributes = r.attributes.clone();
        assert_eq!(
            r2.resolve(&t.resources["LoadBalancer"].properties).unwrap()["CertificateArn"],
            json!("arn:cert")
        );
        let subnet = r
            .resolve(&t.resources["PrivateSubnetB"].properties)
            .unwrap();
        assert_eq!(subnet["AvailabilityZone"], json!("us-east-1b"));
        assert_eq!(
            subnet["Tags"][0]["Value"],
            json!("sky-high-booker-private-b")
        );
    }
}
