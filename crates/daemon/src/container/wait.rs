//! `wait`: the waiter is registered when the request arrives, so a `next-exit` wait sent before
//! `start` (as `docker run` does) cannot miss a fast exit.

use berth_api::backend::{WaitCondition, WaitFuture};
use berth_types::api::{ContainerWaitExitError, ContainerWaitResponse};

use crate::error::Result;
use crate::Daemon;

impl Daemon {
    pub async fn wait_container(&self, key: &str, condition: WaitCondition) -> Result<WaitFuture> {
        let entry = self.containers.lookup(key)?;
        let mut rx = entry.wait_tx.subscribe();
        let start = rx.borrow_and_update().clone();
        Ok(Box::pin(async move {
            let answer = |w: &super::WaitState| ContainerWaitResponse {
                status_code: w.exit_code,
                error: w
                    .error
                    .clone()
                    .map(|m| ContainerWaitExitError { message: Some(m) }),
            };
            if condition == WaitCondition::NotRunning && !start.running {
                return answer(&start);
            }
            loop {
                let current = rx.borrow_and_update().clone();
                let done = match condition {
                    WaitCondition::NotRunning => !current.running,
                    WaitCondition::NextExit => current.exits > start.exits,
                    WaitCondition::Removed => current.removed,
                };
                if done {
                    return answer(&current);
                }
                if rx.changed().await.is_err() {
                    // The container is gone (removed) while we waited.
                    let last = rx.borrow().clone();
                    return answer(&last);
                }
            }
        }))
    }
}
