//! Work that must not slow chat down: the web listener's HTTP connections
//! (uploads, downloads, the web client's files) run on a runtime of their
//! own whose threads have a lower CPU priority, and uploads are written by
//! threads at that priority too. When the CPU is busy, chat's runtime gets
//! it first; when it is idle, the bulk work takes all of it.
//!
//! A WebSocket upgraded on the web listener is chat: its session runs on
//! chat's runtime (see `transport::ws`).

use std::future::Future;

/// The nice value of bulk threads where the idle scheduling class is
/// refused: below chat's (0), so that the CPU goes to chat first.
const BULK_NICE: i32 = 10;

/// The runtime for bulk work, shut down (without waiting) when dropped, as
/// a runtime may not be dropped inside another one.
pub(crate) struct Bulk(Option<tokio::runtime::Runtime>);

impl Bulk {
    /// One worker thread: bulk work is bounded by the disk and the network
    /// more than by the CPU, and a second thread would only compete with
    /// chat's.
    pub(crate) fn start() -> std::io::Result<Bulk> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("confab-bulk")
            .on_thread_start(lower_priority)
            .enable_all()
            .build()?;
        Ok(Bulk(Some(runtime)))
    }

    pub(crate) fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if let Some(rt) = &self.0 {
            rt.spawn(task);
        }
    }
}

impl Drop for Bulk {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Lowers the calling thread's CPU and disk priority (Linux keeps both per
/// thread). Elsewhere, or if refused, it stays as it is.
///
/// The CPU class is `SCHED_IDLE`: a chat thread that wakes up preempts a
/// bulk thread at once, where a nice value only shrinks the bulk thread's
/// share and lets it finish its slice first (which showed as chat's p99).
pub(crate) fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on the calling thread; the one pointer
    // handed over is to a local that outlives the call.
    unsafe {
        let tid = libc::gettid();
        let param = libc::sched_param { sched_priority: 0 };
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) != 0 {
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, BULK_NICE);
        }
        // And its disk writes in the idle I/O class (honoured by the
        // mq-deadline and BFQ schedulers): the database's go first.
        const IOPRIO_WHO_PROCESS: libc::c_int = 1;
        const IOPRIO_CLASS_IDLE: libc::c_int = 3;
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            tid,
            IOPRIO_CLASS_IDLE << 13,
        );
    }
}
