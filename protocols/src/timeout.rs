//! Bounding a future's time on a glommio executor.

use std::future::Future;
use std::time::Duration;

/// `work`'s output, or `None` if it has not finished within `limit` (it is then dropped).
pub async fn within<T>(limit: Duration, work: impl Future<Output = T>) -> Option<T> {
    let timer = async {
        glommio::timer::sleep(limit).await;
        None
    };
    futures_lite::future::or(async { Some(work.await) }, timer).await
}
