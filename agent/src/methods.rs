//! The methods a connection may call once it has said hello.

use std::sync::Arc;

use pfproto::history::{HistoryListParams, HistoryRecord, MAX_RECORDS};
use pfproto::probe::{
    ContainerExecParams, FilesReadParams, FilesStatParams, HttpGetParams, NetProbeParams,
};
use pfproto::{method, ErrorCode, PingResult, RpcError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::agent::Agent;

/// Advertised in the hello answer; `hello` itself is handled by the connection.
pub const CAPABILITIES: &[&str] = &[
    method::HELLO,
    method::AGENT_PING,
    method::NODE_FACTS,
    method::FILES_STAT,
    method::CONTAINERS_LIST,
    method::SWARM_INSPECT,
    method::NET_PROBE,
    method::HTTP_GET,
    method::HTTP_POST,
    method::CONTAINER_EXEC,
    method::HISTORY_APPEND,
    method::HISTORY_LIST,
    method::FILES_READ,
    method::CONTAINERS_REMOVE,
    method::SERVICE_UPDATE,
    method::NODE_AVAILABILITY,
    method::FILES_WRITE,
    method::FILES_MODE,
    method::FILES_REMOVE,
    method::AUDIT_LIST,
    method::HOST_FIREWALL_OPEN,
    method::HOST_TIMESYNC,
    method::AUDIT_RECORD,
    method::NETWORK_ENSURE,
    method::SECRET_ENSURE,
    method::CONFIG_ENSURE,
    method::SERVICE_APPLY,
    method::SECRET_ROTATE,
    method::SERVICES_INSPECT,
    method::SECRET_REMOVE,
    method::SWARM_INIT,
    method::SWARM_JOIN,
    method::SWARM_LEAVE,
    method::SWARM_TOKENS,
    method::NODE_UPDATE,
    method::IMAGES_LIST,
];

/// Bounds on list parameters, so one request cannot ask for unbounded work.
const MAX_PATHS: usize = 1024;
const MAX_TARGETS: usize = 256;

pub fn exists(name: &str) -> bool {
    CAPABILITIES.contains(&name) && name != method::HELLO
}

/// `peer`: who is on the other end (`uid N pid M`, or `stdio`), for the audit log.
pub async fn call(
    agent: Arc<Agent>,
    name: &str,
    params: Value,
    peer: &str,
) -> Result<Value, RpcError> {
    if crate::actions::is_action(name) {
        return crate::actions::call(&agent, name, params, peer).await;
    }
    if crate::firewall::handles(name) {
        return crate::firewall::call(&agent, name, params, peer).await;
    }
    if crate::stack_ops::handles(name) {
        return crate::stack_ops::call(&agent, name, params, peer).await;
    }
    if crate::secrets::handles(name) {
        return crate::secrets::call(&agent, name, params, peer).await;
    }
    if crate::swarm_ops::handles(name) {
        return crate::swarm_ops::call(&agent, name, params, peer).await;
    }
    if crate::images::handles(name) {
        return crate::images::call(&agent, name, params).await;
    }
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
        method::FILES_STAT => {
            let p: FilesStatParams = parse(name, params)?;
            if p.paths.len() > MAX_PATHS {
                return Err(rpc(
                    ErrorCode::InvalidParams,
                    format!("files.stat: at most {MAX_PATHS} paths per call"),
                ));
            }
            let r = tokio::task::spawn_blocking(move || crate::files::stat_all(&p.paths))
                .await
                .map_err(|e| rpc(ErrorCode::Internal, format!("files.stat failed: {e}")))?;
            to_value(r)
        }
        method::FILES_READ => {
            let p: FilesReadParams = parse(name, params)?;
            if p.keys.as_ref().is_some_and(|k| k.len() > MAX_PATHS) {
                return Err(rpc(
                    ErrorCode::InvalidParams,
                    format!("files.read: at most {MAX_PATHS} keys per call"),
                ));
            }
            let r = tokio::task::spawn_blocking(move || crate::files::read(&p))
                .await
                .map_err(|e| rpc(ErrorCode::Internal, format!("files.read failed: {e}")))?;
            to_value(r)
        }
        method::CONTAINERS_LIST => {
            no_params(&params)?;
            to_value(agent.engine.containers().await)
        }
        method::SWARM_INSPECT => {
            no_params(&params)?;
            to_value(agent.engine.swarm().await)
        }
        method::NET_PROBE => {
            let p: NetProbeParams = parse(name, params)?;
            if p.targets.len() > MAX_TARGETS {
                return Err(rpc(
                    ErrorCode::InvalidParams,
                    format!("net.probe: at most {MAX_TARGETS} targets per call"),
                ));
            }
            to_value(crate::net::probe(p).await)
        }
        method::HTTP_GET => {
            // Never log these params: they may carry a password.
            let p: HttpGetParams = parse(name, params)?;
            to_value(crate::net::http_get(p).await)
        }
        method::CONTAINER_EXEC => {
            let p: ContainerExecParams = parse(name, params)?;
            if p.container.is_empty() || p.cmd.is_empty() {
                return Err(rpc(
                    ErrorCode::InvalidParams,
                    "container.exec: container and cmd must not be empty",
                ));
            }
            to_value(agent.engine.exec(p).await)
        }
        method::HISTORY_APPEND => {
            let record: HistoryRecord = parse(name, params)?;
            tokio::task::spawn_blocking(move || agent.history.append(&record))
                .await
                .map_err(|e| rpc(ErrorCode::Internal, format!("history.append failed: {e}")))??;
            Ok(Value::Object(Default::default()))
        }
        method::HISTORY_LIST => {
            let p: HistoryListParams = parse(name, params)?;
            if p.limit as usize > MAX_RECORDS {
                return Err(rpc(
                    ErrorCode::InvalidParams,
                    format!("history.list: limit is at most {MAX_RECORDS}"),
                ));
            }
            let r = tokio::task::spawn_blocking(move || agent.history.list(p.limit as usize))
                .await
                .map_err(|e| rpc(ErrorCode::Internal, format!("history.list failed: {e}")))??;
            to_value(r)
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

pub fn parse<T: DeserializeOwned>(name: &str, params: Value) -> Result<T, RpcError> {
    // serde's message names the field and type, never the value, so secrets stay out of it.
    serde_json::from_value(params)
        .map_err(|e| rpc(ErrorCode::InvalidParams, format!("{name}: {e}")))
}

pub fn to_value<T: Serialize>(v: T) -> Result<Value, RpcError> {
    serde_json::to_value(v).map_err(|e| rpc(ErrorCode::Internal, e.to_string()))
}

pub fn rpc(code: ErrorCode, message: impl Into<String>) -> RpcError {
    RpcError {
        code,
        message: message.into(),
    }
}
