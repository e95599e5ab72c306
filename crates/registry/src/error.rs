//! Errors of the registry, each one a code of the distribution specification.
//!
//! The wire form is the specification's: `{"errors":[{"code","message","detail"}]}` with the
//! status code distribution uses for that code. Messages are distribution's, so clients that
//! match on them (few do; they should match on `code`) see the same text.

use berth_types::{ErrorKind, Kinded};
use std::time::Duration;

use serde_json::{json, Value};

/// A failure answered to a client. `detail` is free-form JSON, as the specification allows.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("blob unknown to registry")]
    BlobUnknown(Value),
    #[error("blob upload invalid: {0}")]
    BlobUploadInvalid(String),
    #[error("blob upload unknown to registry")]
    BlobUploadUnknown(Value),
    #[error("provided digest did not match uploaded content: {0}")]
    DigestInvalid(String),
    #[error("blob unknown to registry")]
    ManifestBlobUnknown(Value),
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    /// A manifest above the size limit (4 MiB, distribution's): answered 413.
    #[error("manifest too large: more than {0} bytes")]
    ManifestTooLarge(usize),
    #[error("manifest unknown")]
    ManifestUnknown(Value),
    #[error("invalid repository name")]
    NameInvalid(String),
    #[error("repository name not known to registry")]
    NameUnknown(String),
    #[error("provided length did not match content length: {0}")]
    SizeInvalid(String),
    #[error("manifest tag did not match URI")]
    TagInvalid(String),
    /// No or bad credentials; `challenge` is the `WWW-Authenticate` value to send.
    #[error("authentication required")]
    Unauthorized { challenge: String, detail: Value },
    #[error("requested access to the resource is denied")]
    Denied(String),
    #[error("The operation is unsupported.")]
    Unsupported(String),
    #[error("invalid number of results requested")]
    PaginationNumberInvalid(String),
    /// A chunk that does not start where the upload stands, or a range past a blob's end.
    /// `range` is the header to send back (`Range` for uploads, `Content-Range` for blobs).
    #[error("invalid content range")]
    RangeInvalid { header: &'static str, range: String },
    #[error("too many requests")]
    TooManyRequests {
        /// When the client may try again (`Retry-After`), if known.
        retry_after: Duration,
    },
    /// The upstream of a pull-through cache failed or could not be reached.
    #[error("upstream registry unavailable: {0}")]
    Upstream(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("not found")]
    NotFound,
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The specification's error code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::BlobUnknown(_) => "BLOB_UNKNOWN",
            Error::BlobUploadInvalid(_) => "BLOB_UPLOAD_INVALID",
            Error::BlobUploadUnknown(_) => "BLOB_UPLOAD_UNKNOWN",
            Error::DigestInvalid(_) => "DIGEST_INVALID",
            Error::ManifestBlobUnknown(_) => "MANIFEST_BLOB_UNKNOWN",
            Error::ManifestInvalid(_) | Error::ManifestTooLarge(_) => "MANIFEST_INVALID",
            Error::ManifestUnknown(_) => "MANIFEST_UNKNOWN",
            Error::NameInvalid(_) => "NAME_INVALID",
            Error::NameUnknown(_) => "NAME_UNKNOWN",
            Error::SizeInvalid(_) => "SIZE_INVALID",
            Error::TagInvalid(_) => "TAG_INVALID",
            Error::Unauthorized { .. } => "UNAUTHORIZED",
            Error::Denied(_) => "DENIED",
            Error::Unsupported(_) | Error::MethodNotAllowed => "UNSUPPORTED",
            Error::PaginationNumberInvalid(_) => "PAGINATION_NUMBER_INVALID",
            Error::RangeInvalid { .. } => "RANGE_INVALID",
            Error::TooManyRequests { .. } => "TOOMANYREQUESTS",
            Error::Upstream(_) => "UNAVAILABLE",
            Error::NotFound => "NOT_FOUND",
            Error::Internal(_) => "UNKNOWN",
        }
    }

    /// The HTTP status distribution answers with for this code.
    pub fn status(&self) -> u16 {
        match self {
            Error::BlobUnknown(_)
            | Error::BlobUploadUnknown(_)
            | Error::ManifestUnknown(_)
            | Error::NameUnknown(_)
            | Error::NotFound => 404,
            Error::BlobUploadInvalid(_)
            | Error::DigestInvalid(_)
            | Error::ManifestBlobUnknown(_)
            | Error::ManifestInvalid(_)
            | Error::NameInvalid(_)
            | Error::SizeInvalid(_)
            | Error::TagInvalid(_)
            | Error::PaginationNumberInvalid(_) => 400,
            Error::ManifestTooLarge(_) => 413,
            Error::Unauthorized { .. } => 401,
            Error::Denied(_) => 403,
            Error::Unsupported(_) | Error::MethodNotAllowed => 405,
            Error::RangeInvalid { .. } => 416,
            Error::TooManyRequests { .. } => 429,
            Error::Upstream(_) => 503,
            Error::Internal(_) => 500,
        }
    }

    /// The `detail` member of the error body.
    pub fn detail(&self) -> Value {
        match self {
            Error::BlobUnknown(v)
            | Error::BlobUploadUnknown(v)
            | Error::ManifestBlobUnknown(v)
            | Error::ManifestUnknown(v) => v.clone(),
            Error::Unauthorized { detail, .. } => detail.clone(),
            Error::NameInvalid(s) | Error::NameUnknown(s) => json!({ "name": s }),
            Error::BlobUploadInvalid(s)
            | Error::DigestInvalid(s)
            | Error::ManifestInvalid(s)
            | Error::SizeInvalid(s)
            | Error::TagInvalid(s)
            | Error::Denied(s)
            | Error::Unsupported(s)
            | Error::PaginationNumberInvalid(s)
            | Error::Upstream(s)
            | Error::Internal(s) => Value::String(s.clone()),
            Error::ManifestTooLarge(limit) => json!({ "limit": limit }),
            Error::RangeInvalid { range, .. } => Value::String(range.clone()),
            Error::TooManyRequests { .. } | Error::MethodNotAllowed | Error::NotFound => {
                Value::Null
            }
        }
    }

    /// The JSON body of the error.
    pub fn body(&self) -> Vec<u8> {
        let message = match self {
            // Keep the specification's short message; the specifics travel in `detail`.
            Error::BlobUploadInvalid(_) => "blob upload invalid".to_string(),
            Error::DigestInvalid(_) => "provided digest did not match uploaded content".into(),
            Error::ManifestInvalid(_) | Error::ManifestTooLarge(_) => "manifest invalid".into(),
            Error::SizeInvalid(_) => "provided length did not match content length".into(),
            Error::Internal(_) => "unknown error".into(),
            other => other.to_string(),
        };
        let mut entry = json!({ "code": self.code(), "message": message });
        let detail = self.detail();
        if !detail.is_null() {
            entry["detail"] = detail;
        }
        serde_json::to_vec(&json!({ "errors": [entry] })).unwrap_or_default()
    }

    pub(crate) fn io(context: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |e| Error::Internal(format!("{context}: {e}"))
    }
}

impl From<berth_content::Error> for Error {
    fn from(e: berth_content::Error) -> Error {
        match e {
            berth_content::Error::InvalidDigest(d) => Error::DigestInvalid(d),
            berth_content::Error::NotFound(d) => Error::BlobUnknown(json!({ "digest": d })),
            berth_content::Error::DigestMismatch { expected, actual } => {
                Error::DigestInvalid(format!("expected {expected}, got {actual}"))
            }
            berth_content::Error::SizeMismatch { expected, actual } => {
                Error::SizeInvalid(format!("expected {expected} bytes, got {actual}"))
            }
            other => Error::Internal(other.to_string()),
        }
    }
}

impl Kinded for Error {
    fn kind(&self) -> ErrorKind {
        match self.status() {
            400 | 413 | 416 => ErrorKind::InvalidArgument,
            401 | 403 => ErrorKind::FailedPrecondition,
            404 => ErrorKind::NotFound,
            405 => ErrorKind::NotImplemented,
            429 | 503 => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_spec_shape() {
        let e = Error::BlobUnknown(json!({"digest": "sha256:x"}));
        let v: Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(v["errors"][0]["code"], "BLOB_UNKNOWN");
        assert_eq!(v["errors"][0]["message"], "blob unknown to registry");
        assert_eq!(v["errors"][0]["detail"]["digest"], "sha256:x");
        assert_eq!(e.status(), 404);
        assert_eq!(e.kind(), ErrorKind::NotFound);
    }
}
