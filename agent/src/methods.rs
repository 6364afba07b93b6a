//! The methods a connection may call once it has said hello.

use std::sync::Arc;

use pfproto::{method, ErrorCode, PingResult, RpcError};
use serde::Serialize;
use serde_json::Value;

use crate::agent::Agent;

/// Advertised in the hello answer; `hello` itself is handled by the connection.
pub const CAPABILITIES: &[&str] = &[method::HELLO, method::AGENT_PING, method::NODE_FACTS];

pub fn exists(name: &str) -> bool {
    CAPABILITIES.contains(&name) && name != method::HELLO
}

pub async fn call(agent: Arc<Agent>, name: &str, params: Value) -> Result<Value, RpcError> {
    match name {
        method::AGENT_PING => {
            no_params(&params)?;
            to_value(PingResult {
                unix_ms: crate::clock::unix_ms(),
            })
        }
        method::NODE_FACTS => {
            no_params(&params)?;
            let facts = crate::facts::collect(&agent)
                .await
                .map_err(|e| rpc(ErrorCode::Internal, format!("collecting facts failed: {e}")))?;
            to_value(facts)
        }
        other => Err(rpc(
            ErrorCode::MethodNotFound,
            format!("unknown method '{other}'"),
        )),
    }
}

/// Methods without parameters accept `null`, `{}` or `[]`, so clients may always send an object.
fn no_params(params: &Value) -> Result<(), RpcError> {
    let empty = match params {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    };
    if empty {
        Ok(())
    } else {
        Err(rpc(
            ErrorCode::InvalidParams,
            "this method takes no parameters",
        ))
    }
}

fn to_value<T: Serialize>(v: T) -> Result<Value, RpcError> {
    serde_json::to_value(v).map_err(|e| rpc(ErrorCode::Internal, e.to_string()))
}

pub fn rpc(code: ErrorCode, message: impl Into<String>) -> RpcError {
    RpcError {
        code,
        message: message.into(),
    }
}
