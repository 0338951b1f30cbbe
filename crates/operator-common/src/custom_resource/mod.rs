//! The CloudFormation custom-resource protocol, written once for every resource:
//! parse the request, run the resource's handler, and always answer CloudFormation:
//! on success, on error, on a panic, and shortly before the invocation deadline.

mod handler_thread;
mod lambda;
mod request;
mod response;
mod runner;
mod sender;

pub use handler_thread::handler_thread;
pub use lambda::{answer_by, handle_invocation, handle_invocation_on, is_delete, InvocationError};
pub use request::{ParseError, Request, RequestKind};
pub use response::{Response, Status, MAX_RESPONSE_BYTES};
pub use runner::{answer, Failure, Success, NOT_CREATED_PREFIX};
pub use sender::{ResponseSender, SendError};
