//! The build's progress: lines of the legacy builder's `stream` text, in order.

use tokio::sync::mpsc::UnboundedSender;

/// One message of the build's progress stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Text for `{"stream": ...}`.
    Stream(String),
    /// A pull's progress line, already JSON (`{"status": ...}`).
    Raw(serde_json::Value),
    /// `{"aux": ...}` (the final image ID).
    Aux(serde_json::Value),
}

/// Where progress goes. Cloneable; dropped receivers are ignored (a client that went away
/// does not stop the build's bookkeeping mid-step).
#[derive(Clone)]
pub struct Output {
    tx: Option<UnboundedSender<Message>>,
    quiet: bool,
}

impl Output {
    pub fn new(tx: UnboundedSender<Message>, quiet: bool) -> Output {
        Output {
            tx: Some(tx),
            quiet,
        }
    }

    /// An output that discards everything.
    pub fn sink() -> Output {
        Output {
            tx: None,
            quiet: true,
        }
    }

    /// Sends `text` unless the build is quiet.
    pub fn stream(&self, text: impl Into<String>) {
        if !self.quiet {
            self.force(text);
        }
    }

    /// Sends `text` even in quiet mode (warnings, the final ID).
    pub fn force(&self, text: impl Into<String>) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Message::Stream(text.into()));
        }
    }

    pub fn aux(&self, v: serde_json::Value) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Message::Aux(v));
        }
    }

    pub fn raw(&self, v: serde_json::Value) {
        if self.quiet {
            return;
        }
        if let Some(tx) = &self.tx {
            let _ = tx.send(Message::Raw(v));
        }
    }
}
