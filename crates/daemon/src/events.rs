//! The event bus behind `/events`: every state change is published once, kept in a bounded
//! history (for `since`), and fanned out to live subscribers.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use berth_api::backend::Filters;
use berth_types::api::{EventActor, EventMessage, EventMessageScopeEnum, EventMessageTypeEnum};
use tokio::sync::broadcast;

/// How many past events `since` can reach back over.
const HISTORY: usize = 1024;

pub struct EventBus {
    history: Mutex<VecDeque<EventMessage>>,
    live: broadcast::Sender<EventMessage>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus {
            history: Mutex::new(VecDeque::with_capacity(HISTORY)),
            live: broadcast::channel(HISTORY).0,
        }
    }
}

impl EventBus {
    /// Publishes an event about object `id` of kind `typ` (attributes as Docker sends them, e.g.
    /// `name`, `image`, `exitCode`).
    pub fn publish(
        &self,
        typ: EventMessageTypeEnum,
        action: &str,
        id: &str,
        attributes: HashMap<String, String>,
    ) {
        let now = time::OffsetDateTime::now_utc();
        let nanos = now.unix_timestamp_nanos() as i64;
        let ev = EventMessage {
            typ: Some(typ),
            action: Some(action.to_owned()),
            actor: Some(EventActor {
                id: Some(id.to_owned()),
                attributes: Some(attributes),
            }),
            scope: Some(EventMessageScopeEnum::LOCAL),
            time: Some(nanos / 1_000_000_000),
            time_nano: Some(nanos),
        };
        let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        if history.len() == HISTORY {
            history.pop_front();
        }
        history.push_back(ev.clone());
        // Sending under the history lock keeps history and live delivery in one order.
        let _ = self.live.send(ev);
    }

    /// Past events at or after `since` (unix seconds) and a receiver for what comes next, taken
    /// atomically so nothing falls between them.
    pub fn subscribe(
        &self,
        since: Option<f64>,
    ) -> (Vec<EventMessage>, broadcast::Receiver<EventMessage>) {
        let history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        let rx = self.live.subscribe();
        let past = match since {
            None => Vec::new(),
            Some(since) => {
                let since_ns = (since * 1e9) as i64;
                history
                    .iter()
                    .filter(|e| e.time_nano.unwrap_or(0) >= since_ns)
                    .cloned()
                    .collect()
            }
        };
        (past, rx)
    }
}

/// Whether `ev` passes Docker's event filters (`type`, `event`, `container`, `image`, `label`).
pub fn matches(ev: &EventMessage, filters: &Filters) -> bool {
    let actor = ev.actor.as_ref();
    let id = actor.and_then(|a| a.id.as_deref()).unwrap_or("");
    let attrs = actor.and_then(|a| a.attributes.as_ref());
    let attr = |k: &str| attrs.and_then(|a| a.get(k)).map(String::as_str);
    let typ = ev.typ.map(|t| t.to_string()).unwrap_or_default();
    for (key, values) in filters {
        if values.is_empty() {
            continue;
        }
        let ok = match key.as_str() {
            "type" => values.contains(&typ),
            "event" => {
                // Docker matches these three by prefix: `health_status` selects
                // `health_status: healthy`.
                let action = ev.action.as_deref().unwrap_or("");
                values.iter().any(|v| {
                    v == action
                        || (["health_status", "exec_create", "exec_start"].contains(&v.as_str())
                            && action.starts_with(v.as_str()))
                })
            }
            "container" => {
                typ == "container"
                    && values
                        .iter()
                        .any(|v| id.starts_with(v.as_str()) || attr("name") == Some(v))
            }
            "image" => values.iter().any(|v| {
                attr("image") == Some(v) || (typ == "image" && (id == v || attr("name") == Some(v)))
            }),
            "label" => values.iter().any(|v| match v.split_once('=') {
                Some((k, val)) => attr(k) == Some(val),
                None => attr(v).is_some(),
            }),
            _ => true,
        };
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn history_and_live_delivery() {
        let bus = EventBus::default();
        bus.publish(
            EventMessageTypeEnum::CONTAINER,
            "create",
            "abc",
            attrs(&[("name", "web")]),
        );
        let (past, mut rx) = bus.subscribe(Some(0.0));
        assert_eq!(past.len(), 1);
        assert_eq!(past[0].action.as_deref(), Some("create"));
        bus.publish(
            EventMessageTypeEnum::CONTAINER,
            "start",
            "abc",
            attrs(&[("name", "web")]),
        );
        let ev = rx.try_recv().unwrap();
        assert_eq!(ev.action.as_deref(), Some("start"));
        let (none, _) = bus.subscribe(None);
        assert!(none.is_empty());
    }

    #[test]
    fn filters_select_events() {
        let bus = EventBus::default();
        bus.publish(
            EventMessageTypeEnum::CONTAINER,
            "die",
            "abc123",
            attrs(&[("name", "web"), ("image", "busybox"), ("app", "x")]),
        );
        let (past, _) = bus.subscribe(Some(0.0));
        let ev = &past[0];
        let f = |k: &str, v: &str| Filters::from([(k.to_string(), vec![v.to_string()])]);
        assert!(matches(ev, &f("type", "container")));
        assert!(!matches(ev, &f("type", "image")));
        assert!(matches(ev, &f("event", "die")));
        assert!(!matches(ev, &f("event", "start")));
        assert!(matches(ev, &f("container", "web")));
        assert!(matches(ev, &f("container", "abc")));
        assert!(!matches(ev, &f("container", "db")));
        assert!(matches(ev, &f("image", "busybox")));
        assert!(matches(ev, &f("label", "app=x")));
        assert!(matches(ev, &f("label", "app")));
        assert!(!matches(ev, &f("label", "app=y")));
    }
}
