// The segmented write-ahead log: recovery, a writer thread doing group commit, a preallocator
// thread, and reads by index range. No N-API here (see addon.cc).
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sys/types.h>
#include <sys/uio.h>

namespace flotilla {

// On-disk constants (documented in packages/storage/README.md).
constexpr uint32_t kSegHeaderSize = 64;
constexpr uint32_t kRecHeaderSize = 25;  // u32 len, u32 crc, u64 index, u64 term, u8 type
constexpr uint32_t kStateSlotSize = 512;
constexpr uint32_t kMaxHardStateBytes = 400;
// The STATE file holds two hard-state slots (synced) and, after them, two commit-hint slots
// written without a sync of their own (see Wal::writeCommitHint).
constexpr uint32_t kHintSlotSize = kStateSlotSize;
constexpr uint64_t kHintSlotsOffset = 2ull * kStateSlotSize;

// An error surfaced to JS: an errno (with the syscall and file), a corruption, or a lock conflict.
struct WalError {
  std::string code;  // "CORRUPT_LOG", "LOCKED", "EIO"-style errno names are mapped in JS ("ERRNO")
  int err = 0;
  std::string syscall;
  std::string file;
  uint64_t offset = 0;
  std::string message;
};

struct Segment {
  uint64_t first = 0;
  uint64_t prevTerm = 0;
  uint64_t epoch = 0;
  std::string path;
  int fd = -1;
  uint64_t end = kSegHeaderSize;  // write cursor: end of the last record
  bool preallocated = false;      // zero-filled to full size (cheaper fdatasync) rather than growing
  uint8_t header[kSegHeaderSize] = {};
  std::vector<uint32_t> offs;     // start offset of each record
  uint64_t count() const { return offs.size(); }
  uint64_t last() const { return first + offs.size() - 1; }
  ~Segment();
};
using SegPtr = std::shared_ptr<Segment>;

struct WalOptions {
  uint64_t segmentSize = 64ull << 20;
  uint64_t maxBatchBytes = 4ull << 20;
  uint32_t maxRecordBytes = 8u << 20;
  bool preallocate = true;
};

struct RecoveryInfo {
  uint64_t firstIndex = 1;
  uint64_t lastIndex = 0;
  uint64_t baseTerm = 0;                 // term of firstIndex - 1
  std::vector<uint64_t> runs;            // pairs (first index of run, term)
  std::string hardState;                 // opaque bytes written by JS
  uint64_t commitHint = 0;               // the latest commit hint found (0 if none)
  std::string tornFile;                  // where a torn tail was cut, if any
  uint64_t tornOffset = 0;
  uint64_t tornBytes = 0;
};

// One unit of work for the writer thread.
struct Op {
  enum Kind { Append, Compact, Reset, Clear } kind = Append;
  uint64_t seq = 0;
  uint8_t* data = nullptr;  // records, laid out by JS; the CRC fields are filled in by the writer
  size_t len = 0;
  uint64_t first = 0;  // Append: index of the first record; Compact: index; Reset: snapshot index
  uint64_t term = 0;   // Reset: snapshot term
  uint32_t count = 0;
  bool hasHardState = false;
  std::string hardState;
  uint64_t commitHint = 0;  // Append: a commit index to record without a sync (0 = none)
  void* keepAlive = nullptr;  // released on the JS thread once the op is done
};

// What the writer reports after each batch.
struct Done {
  uint32_t ops = 0;        // ops in the batch
  uint64_t seq = 0;        // every op up to this seq is done (durable or failed)
  uint64_t lastIndex = 0;  // durable last index after the batch
  uint64_t firstIndex = 0;
  uint64_t baseTerm = 0;
  bool failed = false;
  uint64_t failedSeq = 0;  // ops from here on failed
  bool broken = false;     // the log cannot take more writes until reopened
  uint32_t syncs = 0;      // group commits flushed in the batch (pwritev + fdatasync)
  uint64_t syncNs = 0;     // time those took, in total
  WalError error;
  std::vector<void*> keepAlive;
};

class Wal {
 public:
  // Opens (creating if needed), locks and recovers the log in `dir`. Throws WalError.
  static std::unique_ptr<Wal> open(const std::string& dir, const WalOptions& opts, RecoveryInfo* info);
  ~Wal();

  void start(std::function<void(Done*)> post);
  // Queues an op; returns its sequence number.
  uint64_t submit(Op op);
  // Reads records [lo, hi) (stopping once maxBytes of payload is reached, at least one record)
  // into one buffer of raw records. Throws WalError on I/O or checksum failure.
  std::string read(uint64_t lo, uint64_t hi, uint64_t maxBytes, uint32_t* count);
  // Records a commit hint (no sync) on the calling thread; the caller guarantees that every entry
  // up to `commit` it wrote is durable. Called by the writer after a group and from JS when idle.
  bool writeCommitHint(uint64_t commit, WalError* err);
  // Stops the threads after the queue drains; idempotent.
  void close();
  void injectFault(int err, int countdown) {
    faultCountdown_.store(countdown);
    faultErrno_.store(err);
  }

 private:
  Wal() = default;
  void recover(RecoveryInfo* info);
  void writerLoop();
  void preallocLoop();
  void reaperLoop();
  // Closes dropped segments off the writer thread (see reaperLoop).
  void reap(std::vector<SegPtr>& segs);
  void process(std::vector<Op>& batch, Done* done);

  // Group-commit state for appends between two structural ops.
  struct Run {
    Segment* seg;
    uint64_t off;
    size_t iovBegin, iovEnd;
  };
  struct Group {
    bool active = false;
    SegPtr baseSeg;  // the segment appended to when the group began (may be null)
    uint64_t baseCount = 0, baseEnd = 0, baseLast = 0, baseLastTerm = 0;
    std::vector<SegPtr> newSegs;
    bool hasHardState = false;
    std::string hardState;
    uint64_t commitHint = 0;
  };
  void beginGroup();
  bool planAppend(Op& op, WalError* err);
  bool flushGroup(WalError* err, Done* done);
  bool rollbackGroup(WalError* err);
  bool truncateFrom(uint64_t index, WalError* err);
  bool compact(uint64_t index, WalError* err);
  bool reset(uint64_t index, uint64_t term, WalError* err);
  bool rollover(uint64_t first, uint64_t prevTerm, WalError* err);
  bool writeState(uint64_t epoch, uint64_t base, uint64_t baseTerm, const std::string& hs, WalError* err);
  bool putStateSlot(uint8_t* slot, uint32_t magic, uint64_t seq, off_t off, WalError* err);
  bool zeroRange(Segment* seg, uint64_t from, uint64_t to, WalError* err);
  bool syncDir(WalError* err);
  ssize_t doPwritev(int fd, const struct iovec* iov, int n, off_t off);
  ssize_t doPwrite(int fd, const void* buf, size_t n, off_t off);
  void fillDone(Done* done);

  std::string dir_;
  WalOptions opts_;
  int lockFd_ = -1, dirFd_ = -1, stateFd_ = -1;

  // Layout, shared with readers on the JS thread under mu_.
  std::mutex mu_;
  std::vector<SegPtr> segs_;

  // Writer-thread state.
  uint64_t wLast_ = 0, wLastTerm_ = 0;
  uint64_t epoch_ = 1, base_ = 0, baseTerm_ = 0;
  uint64_t stateSeq_ = 0;
  uint64_t hintSeq_ = 0;  // guarded by hintMu_
  std::mutex hintMu_;
  std::string hardState_;
  bool poisoned_ = false;
  bool broken_ = false;
  WalError brokenError_;
  Group group_;
  std::vector<struct iovec> iov_;
  std::vector<Run> runs_;

  // Queue.
  std::mutex qmu_;
  std::condition_variable qcv_;
  std::deque<Op> queue_;
  uint64_t nextSeq_ = 1;
  bool stopping_ = false;
  bool closed_ = false;
  std::thread writer_;
  std::function<void(Done*)> post_;

  // Preallocator.
  std::mutex pmu_;
  std::condition_variable pcv_;
  bool pNeed_ = false, pReady_ = false, pStop_ = false;

  // Reaper: segments dropped by compaction or reset, closed on a thread of their own.
  std::mutex rmu_;
  std::condition_variable rcv_;
  std::vector<SegPtr> reap_;
  bool rStop_ = false;
  std::thread reaper_;
  int pFd_ = -1;
  std::thread prealloc_;

  std::atomic<int> faultErrno_{0};
  std::atomic<int> faultCountdown_{0};
};

// The plain-C baseline used by the benchmarks: `count` records of `recordSize` bytes written to a
// zero-filled preallocated file, `batch` records per write() and one fdatasync per write().
// Fills per-batch latencies in nanoseconds. Returns elapsed nanoseconds, or -errno.
int64_t baselineWriteSync(const std::string& path, uint32_t recordSize, uint32_t count, uint32_t batch,
                          std::vector<uint64_t>* latencies);

}  // namespace flotilla
