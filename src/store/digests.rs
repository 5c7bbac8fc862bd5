//! Which local day each agents' chat last got its daily digest, so that it is sent once a day
//! even across restarts.

use super::{Store, StoreError};

const TREE: &str = "digests_sent";

impl Store {
    /// The local day number (see `helpdesk::hours`) of the last digest sent to `chat`.
    pub fn digest_day(&self, chat: &str) -> Result<Option<i64>, StoreError> {
        let v = self.tree(TREE)?.get(chat).map_err(|e| self.err(e))?;
        Ok(v.and_then(|v| Some(i64::from_be_bytes(v.as_ref().try_into().ok()?))))
    }

    /// Records that `chats` got the digest of local day `day`, in one batch, flushed.
    pub async fn mark_digests(&self, chats: &[String], day: i64) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for chat in chats {
            batch.insert(chat.as_bytes(), &day.to_be_bytes());
        }
        self.tree(TREE)?
            .apply_batch(batch)
            .map_err(|e| self.err(e))?;
        self.flush().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_day_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            assert_eq!(store.digest_day("onebot/900100").unwrap(), None);
            store
                .mark_digests(&["onebot/900100".into()], 20_000)
                .await
                .unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.digest_day("onebot/900100").unwrap(), Some(20_000));
        assert_eq!(store.digest_day("onebot/900101").unwrap(), None);
    }
}
