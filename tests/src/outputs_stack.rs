//! The local stack as CloudFormation would list it: the harness plays CloudFormation itself,
//! so moto knows no stack. This registers one in moto under the stack's name whose Outputs are
//! template.yaml's, resolved, so that what reads DescribeStacks (`skyhigh status`) finds them.
//! Its only resource is a WaitConditionHandle, which needs nothing.

use aws_sdk_cloudformation::types::Parameter;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Creates (or re-creates, after an update) stack `name` in moto with `outputs`.
pub async fn register(
    endpoint: &str,
    name: &str,
    outputs: &BTreeMap<String, String>,
) -> Result<(), String> {
    let cfn = aws_sdk_cloudformation::Client::new(&crate::moto::sdk_config(endpoint));
    let mut values = Map::new();
    let mut parameters = Map::new();
    let mut given = Vec::new();
    for (i, (key, value)) in outputs.iter().enumerate() {
        // Each value goes in as a parameter: moto's template parser then has nothing to read
        // in it (ARNs, spaces, colons stay as they are).
        let parameter = format!("Output{i}");
        parameters.insert(parameter.clone(), json!({"Type": "String"}));
        values.insert(key.clone(), json!({"Value": {"Ref": parameter}}));
        given.push(
            Parameter::builder()
                .parameter_key(parameter)
                .parameter_value(value)
                .build(),
        );
    }
    let template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "The local stack's Outputs (the harness plays CloudFormation itself)",
        "Parameters": Value::Object(parameters),
        "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": Value::Object(values),
    });
    // moto deletes at once; a stack of that name that is not there is no error.
    let _ = cfn.delete_stack().stack_name(name).send().await;
    cfn.create_stack()
        .stack_name(name)
        .template_body(template.to_string())
        .set_parameters(Some(given))
        .send()
        .await
        .map_err(|e| {
            format!(
                "CreateStack {name}: {}",
                aws_sdk_cloudformation::error::DisplayErrorContext(&e)
            )
        })?;
    Ok(())
}
