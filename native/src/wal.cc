#include "wal.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "crc32c.h"

#if defined(__APPLE__)
// macOS has no fdatasync; F_FULLFSYNC is what actually reaches stable storage there.
static int fdatasync(int fd) { return ::fcntl(fd, F_FULLFSYNC); }
#endif

namespace flotilla {
namespace {

const char kSegMagic[8] = {'F', 'L', 'T', 'W', 'A', 'L', '0', '1'};
constexpr uint32_t kSegVersion = 1;
constexpr uint32_t kStateMagic = 0x31545346;  // "FST1"
constexpr uint32_t kHintMagic = 0x31484346;   // "FCH1"
// Zeros are written in chunks of this size, each written out before the next (see writeOutNow):
// a group commit may wait behind the chunk being written. Three quick storage benchmark runs each,
// 256 appends in flight through 16 MiB segments: 256 KiB chunks, group commit p99.9 1.8-2.2 ms and
// max 2.6-5.2 ms; 64 KiB chunks, 0.9-1.8 ms and 1.0-3.3 ms.
constexpr size_t kZeroChunk = 64 * 1024;

inline uint32_t ld32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t ld64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline void st32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
inline void st64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }

uint32_t recordCrc(const uint8_t* rec, uint32_t len) {
  uint32_t c = crc32c(0, rec, 4);
  return crc32c(c, rec + 8, len - 8);
}

const uint8_t* zeros() {
  static uint8_t* z = new uint8_t[kZeroChunk]();
  return z;
}

WalError ioError(int err, const char* syscall, const std::string& file) {
  WalError e;
  e.code = "ERRNO";
  e.err = err;
  e.syscall = syscall;
  e.file = file;
  e.message = std::string(syscall) + " " + file + ": " + std::strerror(err);
  return e;
}

WalError corrupt(const std::string& file, uint64_t offset, const std::string& detail) {
  WalError e;
  e.code = "CORRUPT_LOG";
  e.file = file;
  e.offset = offset;
  e.message = detail;
  return e;
}

std::string segName(uint64_t first) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu.wal", static_cast<unsigned long long>(first));
  return buf;
}

bool readWhole(int fd, std::vector<uint8_t>* out, uint64_t size) {
  out->resize(size);
  uint64_t got = 0;
  while (got < size) {
    ssize_t n = ::pread(fd, out->data() + got, size - got, got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) break;
    got += n;
  }
  out->resize(got);
  return true;
}

// Memory for reading segment files during recovery: anonymous memory populated in one call and
// reused. A fresh zero-filled std::vector of a whole segment, faulted in page by page, cost most
// of the time of opening a large log in a VM.
class ReadBuffer {
 public:
  ReadBuffer() = default;
  ReadBuffer(const ReadBuffer&) = delete;
  ReadBuffer& operator=(const ReadBuffer&) = delete;
  ~ReadBuffer() {
    if (data_ != nullptr) ::munmap(data_, capacity_);
  }

  // Reads `size` bytes of `fd` from `offset` (fewer at the end of the file); false with errno set.
  bool read(int fd, uint64_t offset, uint64_t size) {
    size_ = 0;
    if (size > capacity_) {
      if (data_ != nullptr) ::munmap(data_, capacity_);
      data_ = nullptr;
      capacity_ = 0;
      uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
      uint64_t want = (size + page - 1) / page * page;
      int flags = MAP_PRIVATE | MAP_ANONYMOUS;
#ifdef MAP_POPULATE
      flags |= MAP_POPULATE;
#endif
      void* p = ::mmap(nullptr, want, PROT_READ | PROT_WRITE, flags, -1, 0);
      if (p == MAP_FAILED) return false;
      data_ = static_cast<uint8_t*>(p);
      capacity_ = want;
    }
    while (size_ < size) {
      ssize_t n = ::pread(fd, data_ + size_, size - size_, static_cast<off_t>(offset + size_));
      if (n < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      if (n == 0) break;
      size_ += static_cast<uint64_t>(n);
    }
    return true;
  }

  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  uint64_t capacity_ = 0;
  uint64_t size_ = 0;
};

// One segment file read front to back through a window of 1 MiB (larger only for a larger
// record), so opening a log never holds a whole segment in memory.
class SegmentReader {
 public:
  static constexpr uint64_t kWindow = 1u << 20;

  SegmentReader(ReadBuffer& window, int fd, uint64_t fileSize) : window_(window), fd_(fd), size_(fileSize) {}

  // Bytes [off, off + n) of the file, which must lie inside it; nullptr with errno set if they
  // cannot be read.
  const uint8_t* at(uint64_t off, uint64_t n) {
    if (off >= start_ && off + n <= start_ + window_.size() && loaded_) return window_.data() + (off - start_);
    uint64_t want = std::min(std::max(n, kWindow), size_ - off);
    loaded_ = false;
    if (!window_.read(fd_, off, want)) return nullptr;
    if (window_.size() < n) {
      errno = EIO;  // the file is shorter than fstat said
      return nullptr;
    }
    start_ = off;
    loaded_ = true;
    return window_.data();
  }

  // True if every byte from `off` to the end of the file is zero; false (errno 0) if one is not,
  // false with errno set on a read error.
  bool zeroFrom(uint64_t off) {
    for (uint64_t p = off; p < size_;) {
      uint64_t n = std::min(kWindow, size_ - p);
      const uint8_t* b = at(p, n);
      if (b == nullptr) return false;
      uint64_t k = 0;
      for (; k + 8 <= n; k += 8)
        if (ld64(b + k) != 0) {
          errno = 0;
          return false;
        }
      for (; k < n; k++)
        if (b[k] != 0) {
          errno = 0;
          return false;
        }
      p += n;
    }
    return true;
  }

 private:
  ReadBuffer& window_;
  int fd_;
  uint64_t size_;
  uint64_t start_ = 0;
  bool loaded_ = false;
};

void encodeSegHeader(uint8_t* h, uint64_t first, uint64_t prevTerm, uint64_t epoch) {
  std::memset(h, 0, kSegHeaderSize);
  std::memcpy(h, kSegMagic, 8);
  st32(h + 8, kSegVersion);
  st64(h + 16, first);
  st64(h + 24, prevTerm);
  st64(h + 32, epoch);
  st32(h + 12, crc32c(0, h + 16, kSegHeaderSize - 16));
}

bool decodeSegHeader(const uint8_t* h, size_t n, uint64_t* first, uint64_t* prevTerm, uint64_t* epoch) {
  if (n < kSegHeaderSize || std::memcmp(h, kSegMagic, 8) != 0 || ld32(h + 8) != kSegVersion) return false;
  if (ld32(h + 12) != crc32c(0, h + 16, kSegHeaderSize - 16)) return false;
  *first = ld64(h + 16);
  *prevTerm = ld64(h + 24);
  *epoch = ld64(h + 32);
  return true;
}

// Looks for an intact record (valid length and checksum, index after `after`) starting anywhere in
// [from, size). Used to tell a torn tail from corruption followed by good data.
bool intactRecordAfter(const uint8_t* b, uint64_t size, uint64_t from, uint64_t after, uint32_t maxRecord) {
  uint64_t p = from;
  while (p + kRecHeaderSize <= size) {
    if (b[p] == 0 && b[p + 1] == 0 && b[p + 2] == 0 && b[p + 3] == 0) {
      // Skip to the next non-zero byte: a record's length field has one in its first four bytes.
      uint64_t q = p + 4;
      while (q + 8 <= size && ld64(b + q) == 0) q += 8;
      while (q < size && b[q] == 0) q++;
      if (q >= size) return false;
      p = q >= p + 3 ? q - 3 : p + 1;
      continue;
    }
    uint32_t len = ld32(b + p);
    if (len >= kRecHeaderSize && len <= maxRecord && p + len <= size) {
      uint64_t idx = ld64(b + p + 8);
      if (idx > after && idx - after < (1ull << 32) && ld32(b + p + 4) == recordCrc(b + p, len)) return true;
    }
    p++;
  }
  return false;
}

}  // namespace

Segment::~Segment() {
  if (fd >= 0) ::close(fd);
}

// ---------------------------------------------------------------------------------------------
// Open and recovery

std::unique_ptr<Wal> Wal::open(const std::string& dir, const WalOptions& opts, RecoveryInfo* info) {
  std::unique_ptr<Wal> w(new Wal());
  w->dir_ = dir;
  w->opts_ = opts;
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) throw ioError(errno, "mkdir", dir);
  std::string lockPath = dir + "/LOCK";
  w->lockFd_ = ::open(lockPath.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (w->lockFd_ < 0) throw ioError(errno, "open", lockPath);
  if (::flock(w->lockFd_, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    if (e == EWOULDBLOCK) {
      WalError le;
      le.code = "LOCKED";
      le.file = lockPath;
      le.message = "the log in " + dir + " is open elsewhere (" + lockPath + " is locked)";
      throw le;
    }
    throw ioError(e, "flock", lockPath);
  }
  w->dirFd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (w->dirFd_ < 0) throw ioError(errno, "open", dir);
  w->recover(info);
  return w;
}

void Wal::recover(RecoveryInfo* info) {
  // Hard state and log base: two checksummed slots, the valid one with the higher seq wins.
  std::string statePath = dir_ + "/STATE";
  stateFd_ = ::open(statePath.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (stateFd_ < 0) throw ioError(errno, "open", statePath);
  std::vector<uint8_t> st;
  if (!readWhole(stateFd_, &st, kHintSlotsOffset + 2 * kHintSlotSize)) throw ioError(errno, "read", statePath);
  // Commit hints: the valid slot with the higher seq wins; a torn or missing one is no loss (the
  // hint is only a lower bound, and the hard state's own commit stands).
  for (int s = 0; s < 2; s++) {
    if (st.size() < kHintSlotsOffset + (s + 1) * kHintSlotSize) continue;
    const uint8_t* p = st.data() + kHintSlotsOffset + s * kHintSlotSize;
    if (ld32(p) != kHintMagic || ld32(p + 4) != crc32c(0, p + 8, kHintSlotSize - 8)) continue;
    uint64_t seq = ld64(p + 8);
    if (seq <= hintSeq_) continue;
    hintSeq_ = seq;
    info->commitHint = ld64(p + 16);
  }
  if (st.size() > 2 * kStateSlotSize) st.resize(2 * kStateSlotSize);
  bool found = false;
  if (st.size() > 0) {
    for (int s = 0; s < 2; s++) {
      if (st.size() < (s + 1) * kStateSlotSize) continue;
      const uint8_t* p = st.data() + s * kStateSlotSize;
      if (ld32(p) != kStateMagic || ld32(p + 4) != crc32c(0, p + 8, kStateSlotSize - 8)) continue;
      uint64_t seq = ld64(p + 8);
      uint32_t hsLen = ld32(p + 40);
      if (hsLen > kMaxHardStateBytes) continue;
      if (found && seq <= stateSeq_) continue;
      found = true;
      stateSeq_ = seq;
      epoch_ = ld64(p + 16);
      base_ = ld64(p + 24);
      baseTerm_ = ld64(p + 32);
      hardState_.assign(reinterpret_cast<const char*>(p + 44), hsLen);
    }
    bool anyBytes = std::any_of(st.begin(), st.end(), [](uint8_t b) { return b != 0; });
    if (!found && anyBytes) throw corrupt(statePath, 0, "no valid hard-state slot");
  }
  if (!found) {
    WalError e;
    if (!writeState(1, 0, 0, std::string(), &e)) throw e;
    if (!syncDir(&e)) throw e;
  }

  std::string pre = dir_ + "/prealloc.tmp";
  ::unlink(pre.c_str());

  // Segments, ordered by first index.
  std::vector<std::pair<uint64_t, std::string>> names;
  DIR* d = ::opendir(dir_.c_str());
  if (!d) throw ioError(errno, "opendir", dir_);
  while (dirent* de = ::readdir(d)) {
    std::string n = de->d_name;
    if (n.size() != 24 || n.compare(20, 4, ".wal") != 0) continue;
    if (n.find_first_not_of("0123456789") != 20) continue;
    names.emplace_back(std::strtoull(n.c_str(), nullptr, 10), n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  // A last segment without a valid header is one whose creation was cut short: its header is
  // written after the data of the group before it, so it never held an acknowledged record.
  while (!names.empty()) {
    std::string path = dir_ + "/" + names.back().second;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw ioError(errno, "open", path);
    uint8_t h[kSegHeaderSize];
    ssize_t n = ::pread(fd, h, sizeof h, 0);
    ::close(fd);
    uint64_t f, pt, ep;
    if (n == static_cast<ssize_t>(sizeof h) && decodeSegHeader(h, sizeof h, &f, &pt, &ep)) break;
    // Only if it holds no intact record: a damaged header over good records is corruption.
    std::vector<uint8_t> whole;
    int rfd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (rfd < 0 || ::fstat(rfd, &sb) != 0 || !readWhole(rfd, &whole, sb.st_size)) {
      int e = errno;
      if (rfd >= 0) ::close(rfd);
      throw ioError(e, "read", path);
    }
    ::close(rfd);
    if (intactRecordAfter(whole.data(), whole.size(), 0, 0, opts_.maxRecordBytes)) throw corrupt(path, 0, "bad segment header over intact records");
    info->tornFile = path;
    info->tornOffset = 0;
    info->tornBytes = whole.size();
    ::unlink(path.c_str());
    syncDir(nullptr);
    names.pop_back();
  }

  ReadBuffer window;  // the one window every segment is read through
  ReadBuffer whole;   // a whole segment, read only when its end is not clean
  std::vector<SegPtr> segs;
  uint64_t lastTerm = baseTerm_;
  for (size_t i = 0; i < names.size(); i++) {
    bool isLast = i + 1 == names.size();
    std::string path = dir_ + "/" + names[i].second;
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) throw ioError(errno, "open", path);
    auto seg = std::make_shared<Segment>();
    seg->fd = fd;
    seg->path = path;
    struct stat sb;
    if (::fstat(fd, &sb) != 0) throw ioError(errno, "fstat", path);
    const uint64_t size = static_cast<uint64_t>(sb.st_size);
    if (size < kSegHeaderSize) throw corrupt(path, 0, "bad segment header");
    SegmentReader rd(window, fd, size);
    const uint8_t* h = rd.at(0, kSegHeaderSize);
    if (h == nullptr) throw ioError(errno, "read", path);
    uint64_t first, prevTerm, epoch;
    if (!decodeSegHeader(h, kSegHeaderSize, &first, &prevTerm, &epoch)) throw corrupt(path, 0, "bad segment header");
    if (epoch != epoch_) {
      // Left over from before a reset to a snapshot: not part of the log.
      ::unlink(path.c_str());
      continue;
    }
    if (first != names[i].first) throw corrupt(path, 16, "segment header does not match its file name");
    seg->first = first;
    seg->prevTerm = prevTerm;
    seg->epoch = epoch;
    seg->preallocated = size >= opts_.segmentSize;
    if (!segs.empty()) {
      const Segment& prev = *segs.back();
      uint64_t expect = prev.first + prev.count();
      if (first != expect)
        throw corrupt(path, 0,
                      "segment starts at index " + std::to_string(first) + " but the log before it ends at " +
                          std::to_string(expect - 1) + " (a segment is missing or was cut short)");
      if (prevTerm != lastTerm) throw corrupt(path, 24, "segment header's previous term does not match the log");
    }
    uint64_t off = kSegHeaderSize;
    uint64_t idx = first;
    uint64_t segLastTerm = prevTerm;
    const char* problem = nullptr;
    bool cleanEnd = false;
    while (off < size) {
      if (size - off < 4) {
        // Too little room for a record: the segment's end if it is zeros.
        const uint8_t* b = rd.at(off, size - off);
        if (b == nullptr) throw ioError(errno, "read", path);
        bool clean = true;
        for (uint64_t k = 0; k < size - off; k++) clean = clean && b[k] == 0;
        if (clean) cleanEnd = true;
        else problem = "short record header";
        break;
      }
      const uint8_t* lenAt = rd.at(off, 4);
      if (lenAt == nullptr) throw ioError(errno, "read", path);
      uint32_t len = ld32(lenAt);
      if (len == 0) break;  // end of the written part of the segment
      if (len < kRecHeaderSize || len > opts_.maxRecordBytes) {
        problem = "bad record length";
        break;
      }
      if (off + len > size) {
        problem = "record runs past the end of the file";
        break;
      }
      const uint8_t* rec = rd.at(off, len);
      if (rec == nullptr) throw ioError(errno, "read", path);
      if (ld32(rec + 4) != recordCrc(rec, len)) {
        problem = "checksum mismatch";
        break;
      }
      if (ld64(rec + 8) != idx) {
        problem = "record index out of sequence";
        break;
      }
      uint64_t term = ld64(rec + 16);
      if (info->runs.empty() || info->runs.back() != term) {
        info->runs.push_back(idx);
        info->runs.push_back(term);
      }
      segLastTerm = term;
      seg->offs.push_back(static_cast<uint32_t>(off));
      off += len;
      idx++;
    }
    seg->end = off;
    bool atEnd = off >= size || cleanEnd;
    // The usual end of a preallocated segment: zeros from the last record to the end of the file.
    if (!atEnd && problem == nullptr) {
      if (rd.zeroFrom(off)) atEnd = true;
      else if (errno != 0) throw ioError(errno, "read", path);
    }
    if (!atEnd) {
      // Something other than a clean end. Good records after it mean corruption, never a torn write.
      if (!whole.read(fd, 0, size)) throw ioError(errno, "read", path);
      const uint8_t* b = whole.data();
      uint64_t got = whole.size();
      if (intactRecordAfter(b, got, off + 1, idx > 0 ? idx - 1 : 0, opts_.maxRecordBytes))
        throw corrupt(path, off, problem ? std::string(problem) + ", followed by intact records"
                                         : "zero-filled hole followed by intact records");
      if (problem) {
        if (!isLast) throw corrupt(path, off, std::string(problem) + " in a sealed segment");
        // Torn tail of the last segment: it was never acknowledged. Zero it so it stays gone.
        uint64_t nz = got;
        while (nz > off && b[nz - 1] == 0) nz--;
        info->tornFile = path;
        info->tornOffset = off;
        info->tornBytes = nz - off;
        WalError e;
        if (!zeroRange(seg.get(), off, nz, &e)) throw e;
        if (::fdatasync(fd) != 0) throw ioError(errno, "fdatasync", path);
      }
    }
    lastTerm = segLastTerm;
    segs.push_back(seg);
  }

  // Drop whole segments that lie at or below the compaction point.
  while (segs.size() > 1 && segs[1]->first <= base_ + 1) {
    ::unlink(segs.front()->path.c_str());
    segs.erase(segs.begin());
  }
  if (!segs.empty() && segs.front()->first > base_ + 1)
    throw corrupt(segs.front()->path, 0,
                  "log starts at index " + std::to_string(segs.front()->first) + " but the snapshot covers only up to " +
                      std::to_string(base_) + " (a segment is missing)");
  // Term runs below the first kept segment are not part of the log.
  if (!segs.empty()) {
    uint64_t f = segs.front()->first;
    std::vector<uint64_t> runs;
    for (size_t i = 0; i < info->runs.size(); i += 2) {
      uint64_t start = info->runs[i], term = info->runs[i + 1];
      uint64_t nextStart = i + 2 < info->runs.size() ? info->runs[i + 2] : UINT64_MAX;
      if (nextStart <= f) continue;
      runs.push_back(std::max(start, f));
      runs.push_back(term);
    }
    info->runs.swap(runs);
  } else {
    info->runs.clear();
  }

  segs_ = segs;
  if (segs_.empty()) {
    wLast_ = base_;
    wLastTerm_ = baseTerm_;
    info->firstIndex = base_ + 1;
    info->baseTerm = baseTerm_;
  } else {
    const Segment& l = *segs_.back();
    wLast_ = l.first + l.count() - 1;
    wLastTerm_ = info->runs.empty() ? segs_.front()->prevTerm : info->runs.back();
    if (l.count() == 0) wLastTerm_ = l.prevTerm;
    info->firstIndex = segs_.front()->first;
    info->baseTerm = segs_.front()->prevTerm;
  }
  info->lastIndex = wLast_;
  info->hardState = hardState_;
}

Wal::~Wal() {
  close();
  if (pFd_ >= 0) ::close(pFd_);
  if (stateFd_ >= 0) ::close(stateFd_);
  if (dirFd_ >= 0) ::close(dirFd_);
  if (lockFd_ >= 0) ::close(lockFd_);  // releases the flock
}

// ---------------------------------------------------------------------------------------------
// Threads

void Wal::start(std::function<void(Done*)> post) {
  post_ = std::move(post);
  reaper_ = std::thread([this] { reaperLoop(); });  // before the writer, which hands it segments
  writer_ = std::thread([this] { writerLoop(); });
  if (opts_.preallocate) {
    pNeed_ = true;
    prealloc_ = std::thread([this] { preallocLoop(); });
  }
}

uint64_t Wal::submit(Op op) {
  std::lock_guard<std::mutex> lk(qmu_);
  op.seq = nextSeq_++;
  uint64_t seq = op.seq;
  queue_.push_back(std::move(op));
  qcv_.notify_one();
  return seq;
}

void Wal::close() {
  {
    std::lock_guard<std::mutex> lk(qmu_);
    if (closed_) return;
    closed_ = true;
    stopping_ = true;
    qcv_.notify_one();
  }
  if (writer_.joinable()) writer_.join();
  {
    std::lock_guard<std::mutex> lk(rmu_);
    rStop_ = true;
    rcv_.notify_one();
  }
  if (reaper_.joinable()) reaper_.join();
  {
    std::lock_guard<std::mutex> lk(pmu_);
    pStop_ = true;
    pcv_.notify_one();
  }
  if (prealloc_.joinable()) prealloc_.join();
  if (pFd_ >= 0) {
    ::close(pFd_);
    pFd_ = -1;
    std::string pre = dir_ + "/prealloc.tmp";
    ::unlink(pre.c_str());
  }
}

void Wal::writerLoop() {
  std::unique_lock<std::mutex> lk(qmu_);
  for (;;) {
    qcv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) break;
    std::vector<Op> batch;
    size_t bytes = 0;
    while (!queue_.empty() && (batch.empty() || bytes + queue_.front().len <= opts_.maxBatchBytes)) {
      bytes += queue_.front().len;
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    lk.unlock();
    Done* done = new Done();
    process(batch, done);
    post_(done);
    lk.lock();
  }
}

// Writes [off, off + n) of `fd` to the disk now and waits for it (no cache flush, no metadata).
// The preallocator calls it after each chunk of zeros, so that the fdatasync that ends a
// segment's preallocation has next to nothing left to write: one flush of a whole segment held
// the disk for tens of milliseconds, and the WAL's group commits queued behind it (measured with
// 64 MiB segments at 256 appends in flight: group commit max 31-32 ms, p99.9 2.2-2.7 ms).
static void writeOutNow(int fd, uint64_t off, size_t n) {
#ifdef __linux__
  (void)::sync_file_range(fd, static_cast<off64_t>(off), static_cast<off64_t>(n),
                          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
#else
  (void)fd;
  (void)off;
  (void)n;
#endif
}

void Wal::preallocLoop() {
  std::string path = dir_ + "/prealloc.tmp";
  std::unique_lock<std::mutex> lk(pmu_);
  for (;;) {
    pcv_.wait(lk, [&] { return pStop_ || (pNeed_ && !pReady_); });
    if (pStop_) return;
    pNeed_ = false;
    lk.unlock();
    // Zero-filled rather than fallocate'd: overwriting written blocks needs no extent conversion,
    // which makes each fdatasync on the hot path cheaper.
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    bool ok = fd >= 0;
    for (uint64_t off = 0; ok && off < opts_.segmentSize; off += kZeroChunk) {
      {
        std::lock_guard<std::mutex> g(pmu_);
        if (pStop_) ok = false;
      }
      if (!ok) break;
      size_t n = std::min<uint64_t>(kZeroChunk, opts_.segmentSize - off);
      if (::pwrite(fd, zeros(), n, off) != static_cast<ssize_t>(n)) {
        ok = false;
        break;
      }
      writeOutNow(fd, off, n);
    }
    if (ok && ::fdatasync(fd) != 0) ok = false;
    lk.lock();
    if (ok) {
      pFd_ = fd;
      pReady_ = true;
    } else {
      if (fd >= 0) ::close(fd);
      ::unlink(path.c_str());
    }
  }
}

// Closing the last descriptor of an unlinked segment is what frees its blocks, and ext4 takes
// 13-14 ms to free a 64 MiB file here: done on the writer thread, every compaction held the group
// commits queued behind it for that long. The reaper thread does it instead. (A reader on the JS
// thread may still hold a segment for a moment; then the last of them closes it.)
void Wal::reap(std::vector<SegPtr>& segs) {
  if (segs.empty()) return;
  std::lock_guard<std::mutex> lk(rmu_);
  if (!reaper_.joinable() || rStop_) {
    segs.clear();
    return;
  }
  for (SegPtr& seg : segs) reap_.push_back(std::move(seg));
  segs.clear();
  rcv_.notify_one();
}

static constexpr uint64_t kReapStep = 1ull << 20;

void Wal::reaperLoop() {
  std::unique_lock<std::mutex> lk(rmu_);
  for (;;) {
    rcv_.wait(lk, [&] { return rStop_ || !reap_.empty(); });
    std::vector<SegPtr> batch;
    batch.swap(reap_);
    lk.unlock();
    for (SegPtr& seg : batch) {
      // Freeing a whole segment at once holds ext4's journal for 13-16 ms, and every write on the
      // disk waits for it (a pwrite updates the file's mtime). Giving the blocks back a few at a
      // time keeps each hold short. Only when nobody else holds the segment: a reader on the JS
      // thread must never see it shrink under a pread.
      if (seg.use_count() == 1 && seg->fd >= 0) {
        struct stat st;
        if (::fstat(seg->fd, &st) == 0) {
          for (off_t size = st.st_size; size > 0;) {
            size = size > static_cast<off_t>(kReapStep) ? size - static_cast<off_t>(kReapStep) : 0;
            if (::ftruncate(seg->fd, size) != 0) break;
          }
        }
      }
      seg.reset();
    }
    batch.clear();
    lk.lock();
    if (rStop_ && reap_.empty()) return;
  }
}

// ---------------------------------------------------------------------------------------------
// Writer thread: group commit

ssize_t Wal::doPwritev(int fd, const struct iovec* iov, int n, off_t off) {
  if (faultErrno_.load(std::memory_order_relaxed) != 0 && faultCountdown_.fetch_sub(1) <= 0) {
    errno = faultErrno_.exchange(0);
    return -1;
  }
  return ::pwritev(fd, iov, n, off);
}

ssize_t Wal::doPwrite(int fd, const void* buf, size_t n, off_t off) {
  struct iovec v = {const_cast<void*>(buf), n};
  return doPwritev(fd, &v, 1, off);
}

bool Wal::syncDir(WalError* err) {
  if (::fsync(dirFd_) != 0) {
    if (err) *err = ioError(errno, "fsync", dir_);
    return false;
  }
  return true;
}

// A STATE slot (hard state or commit hint, 512 bytes each): u32 magic, u32 CRC32C of bytes
// 8..511, u64 sequence, then the body the caller has put from byte 16 on. Stamps the header and
// writes the slot at `off`.
bool Wal::putStateSlot(uint8_t* slot, uint32_t magic, uint64_t seq, off_t off, WalError* err) {
  st32(slot, magic);
  st64(slot + 8, seq);
  st32(slot + 4, crc32c(0, slot + 8, kStateSlotSize - 8));
  ssize_t n = doPwrite(stateFd_, slot, kStateSlotSize, off);
  if (n != static_cast<ssize_t>(kStateSlotSize)) {
    *err = ioError(n < 0 ? errno : EIO, "pwrite", dir_ + "/STATE");
    return false;
  }
  return true;
}

bool Wal::writeState(uint64_t epoch, uint64_t base, uint64_t baseTerm, const std::string& hs, WalError* err) {
  uint8_t slot[kStateSlotSize];
  std::memset(slot, 0, sizeof slot);
  uint64_t seq = stateSeq_ + 1;
  st64(slot + 16, epoch);
  st64(slot + 24, base);
  st64(slot + 32, baseTerm);
  st32(slot + 40, static_cast<uint32_t>(hs.size()));
  std::memcpy(slot + 44, hs.data(), hs.size());
  if (!putStateSlot(slot, kStateMagic, seq, static_cast<off_t>((seq % 2) * kStateSlotSize), err)) return false;
  if (::fdatasync(stateFd_) != 0) {
    *err = ioError(errno, "fdatasync", dir_ + "/STATE");
    return false;
  }
  stateSeq_ = seq;
  epoch_ = epoch;
  base_ = base;
  baseTerm_ = baseTerm;
  hardState_ = hs;
  return true;
}

// Records a commit index in the hint slots of the STATE file, without a sync. Called after the
// group's data is durable, so a hint never runs ahead of the log it describes. A process crash
// keeps it (it is in the page cache); a power loss may lose it or tear it, which costs nothing but
// replay: recovery takes the newest valid hint, the hard state's commit stands otherwise, and the
// hard-state slots, which hold term and vote, are never written here.
bool Wal::writeCommitHint(uint64_t commit, WalError* err) {
  std::lock_guard<std::mutex> lk(hintMu_);
  uint8_t slot[kHintSlotSize];
  std::memset(slot, 0, sizeof slot);
  uint64_t seq = hintSeq_ + 1;
  st64(slot + 16, commit);
  if (!putStateSlot(slot, kHintMagic, seq, static_cast<off_t>(kHintSlotsOffset + (seq % 2) * kHintSlotSize), err)) return false;
  hintSeq_ = seq;
  return true;
}

// Zeroes [from, to) of a segment, from the end backwards: if the process dies half way, what is
// left is a prefix of the old records followed by zeros, which recovery reads as a torn tail.
bool Wal::zeroRange(Segment* seg, uint64_t from, uint64_t to, WalError* err) {
  uint64_t pos = to;
  while (pos > from) {
    uint64_t start = pos - from > kZeroChunk ? pos - kZeroChunk : from;
    ssize_t n = doPwrite(seg->fd, zeros(), pos - start, start);
    if (n != static_cast<ssize_t>(pos - start)) {
      *err = ioError(n < 0 ? errno : EIO, "pwrite", seg->path);
      return false;
    }
    pos = start;
  }
  return true;
}

bool Wal::rollover(uint64_t first, uint64_t prevTerm, WalError* err) {
  std::string path = dir_ + "/" + segName(first);
  int fd = -1;
  bool preallocated = false;
  {
    std::lock_guard<std::mutex> lk(pmu_);
    if (pReady_) {
      std::string pre = dir_ + "/prealloc.tmp";
      if (::rename(pre.c_str(), path.c_str()) == 0) {
        fd = pFd_;
        preallocated = true;
      } else {
        ::close(pFd_);
      }
      pFd_ = -1;
      pReady_ = false;
    }
    pNeed_ = true;
    pcv_.notify_one();
  }
  if (fd < 0) {
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      *err = ioError(errno, "open", path);
      return false;
    }
  }
  auto seg = std::make_shared<Segment>();
  seg->fd = fd;
  seg->path = path;
  seg->first = first;
  seg->prevTerm = prevTerm;
  seg->epoch = epoch_;
  seg->preallocated = preallocated;
  // The header is written with the group, after the data planned before it: if the process dies
  // while an earlier segment's tail is being written, this file has no valid header yet and
  // recovery drops it, so the torn tail stays in the last segment.
  encodeSegHeader(seg->header, first, prevTerm, epoch_);
  if (group_.active) {
    iov_.push_back({seg->header, kSegHeaderSize});
    runs_.push_back({seg.get(), 0, iov_.size() - 1, iov_.size()});
  } else {
    ssize_t n = doPwrite(fd, seg->header, kSegHeaderSize, 0);
    if (n != static_cast<ssize_t>(kSegHeaderSize)) {
      *err = ioError(n < 0 ? errno : EIO, "pwrite", path);
      ::unlink(path.c_str());
      return false;
    }
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    segs_.push_back(seg);
  }
  group_.newSegs.push_back(seg);
  return true;
}

void Wal::beginGroup() {
  if (group_.active) return;
  group_.active = true;
  group_.newSegs.clear();
  group_.hasHardState = false;
  group_.commitHint = 0;
  group_.baseSeg = segs_.empty() ? nullptr : segs_.back();
  group_.baseCount = group_.baseSeg ? group_.baseSeg->count() : 0;
  group_.baseEnd = group_.baseSeg ? group_.baseSeg->end : 0;
  group_.baseLast = wLast_;
  group_.baseLastTerm = wLastTerm_;
  iov_.clear();
  runs_.clear();
}

bool Wal::planAppend(Op& op, WalError* err) {
  uint8_t* p = op.data;
  uint64_t idx = op.first;
  // A growing segment (made while no preallocated file was ready) is sealed early as soon as one
  // is: appends to a zero-filled file make each fdatasync cheaper.
  if (opts_.preallocate && !segs_.empty() && !segs_.back()->preallocated && segs_.back()->count() > 0) {
    bool ready;
    {
      std::lock_guard<std::mutex> lk(pmu_);
      ready = pReady_;
    }
    if (ready && !rollover(idx, wLastTerm_, err)) return false;
  }
  for (uint32_t i = 0; i < op.count; i++) {
    uint32_t len = ld32(p);
    st32(p + 4, recordCrc(p, len));
    Segment* cur = segs_.empty() ? nullptr : segs_.back().get();
    if (!cur || cur->end + len > opts_.segmentSize) {
      if (cur && cur->count() == 0 && cur->end == kSegHeaderSize) {
        // An empty segment takes any record, however large.
      } else {
        if (!rollover(idx, wLastTerm_, err)) return false;
        cur = segs_.back().get();
      }
    }
    if (!runs_.empty() && runs_.back().seg == cur) {
      Run& r = runs_.back();
      struct iovec& last = iov_.back();
      if (static_cast<uint8_t*>(last.iov_base) + last.iov_len == p) {
        last.iov_len += len;
      } else {
        iov_.push_back({p, len});
        r.iovEnd = iov_.size();
      }
    } else {
      iov_.push_back({p, len});
      runs_.push_back({cur, cur->end, iov_.size() - 1, iov_.size()});
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      cur->offs.push_back(static_cast<uint32_t>(cur->end));
      cur->end += len;
    }
    wLast_ = idx;
    wLastTerm_ = ld64(p + 16);
    idx++;
    p += len;
  }
  return true;
}

bool Wal::flushGroup(WalError* err, Done* done) {
  if (!group_.active) return true;
  const auto started = std::chrono::steady_clock::now();
  std::vector<int> touched;
  for (const Run& r : runs_) {
    uint64_t off = r.off;
    size_t i = r.iovBegin;
    size_t skip = 0;  // bytes of iov_[i] already written
    while (i < r.iovEnd) {
      int n = static_cast<int>(std::min<size_t>(r.iovEnd - i, IOV_MAX));
      struct iovec saved = iov_[i];
      iov_[i].iov_base = static_cast<uint8_t*>(iov_[i].iov_base) + skip;
      iov_[i].iov_len -= skip;
      ssize_t w = doPwritev(r.seg->fd, &iov_[i], n, off);
      iov_[i] = saved;
      if (w < 0) {
        if (errno == EINTR) continue;
        *err = ioError(errno, "pwritev", r.seg->path);
        return false;
      }
      off += w;
      size_t left = static_cast<size_t>(w) + skip;
      while (i < r.iovEnd && left >= iov_[i].iov_len) {
        left -= iov_[i].iov_len;
        i++;
      }
      skip = left;
    }
    if (std::find(touched.begin(), touched.end(), r.seg->fd) == touched.end()) touched.push_back(r.seg->fd);
  }
  for (int fd : touched) {
    if (::fdatasync(fd) != 0) {
      std::string path;
      for (const Run& r : runs_)
        if (r.seg->fd == fd) path = r.seg->path;
      *err = ioError(errno, "fdatasync", path);
      return false;
    }
  }
  // New segments: their header must be durable too (covered by fdatasync above if written to),
  // and their names.
  for (const SegPtr& s : group_.newSegs) {
    if (std::find(touched.begin(), touched.end(), s->fd) == touched.end() && ::fdatasync(s->fd) != 0) {
      *err = ioError(errno, "fdatasync", s->path);
      return false;
    }
  }
  if (!group_.newSegs.empty() && !syncDir(err)) return false;
  if (group_.hasHardState && !writeState(epoch_, base_, baseTerm_, group_.hardState, err)) return false;
  if (group_.commitHint > 0 && !writeCommitHint(group_.commitHint, err)) return false;
  group_.active = false;
  group_.newSegs.clear();
  if (touched.empty() && !group_.hasHardState) return true;  // a hint alone: nothing was synced
  done->syncs++;
  done->syncNs += static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started).count());
  return true;
}

// Undoes the appends of the current group: removes its new segments, zeroes what it wrote into
// the segment it started on, and makes that durable. Returns false if even that failed.
bool Wal::rollbackGroup(WalError* err) {
  if (!group_.active) return true;
  group_.active = false;
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (const SegPtr& s : group_.newSegs) {
      segs_.erase(std::remove(segs_.begin(), segs_.end(), s), segs_.end());
      ::unlink(s->path.c_str());
    }
  }
  group_.newSegs.clear();
  Segment* b = group_.baseSeg.get();
  if (b && b->count() >= group_.baseCount) {
    uint64_t written = b->end;
    {
      std::lock_guard<std::mutex> lk(mu_);
      b->offs.resize(group_.baseCount);
      b->end = group_.baseEnd;
    }
    struct stat sb;
    if (::fstat(b->fd, &sb) == 0 && static_cast<uint64_t>(sb.st_size) < written) written = sb.st_size;
    if (!b->preallocated && written > group_.baseEnd) {
      // A growing file: cut it back (this frees space rather than needing any).
      if (::ftruncate(b->fd, group_.baseEnd) != 0) {
        *err = ioError(errno, "ftruncate", b->path);
        return false;
      }
      if (::fdatasync(b->fd) != 0) {
        *err = ioError(errno, "fdatasync", b->path);
        return false;
      }
    } else if (written > group_.baseEnd) {
      if (!zeroRange(b, group_.baseEnd, written, err)) return false;
      if (::fdatasync(b->fd) != 0) {
        *err = ioError(errno, "fdatasync", b->path);
        return false;
      }
    }
  }
  syncDir(nullptr);
  wLast_ = group_.baseLast;
  wLastTerm_ = group_.baseLastTerm;
  return true;
}

// Removes records from `index` on, durably: later segments are unlinked (last first), then the
// stale part of the segment holding `index` is zeroed (from its end backwards) and synced.
bool Wal::truncateFrom(uint64_t index, WalError* err) {
  if (index > wLast_) return true;
  std::vector<SegPtr> drop;
  SegPtr keep;
  {
    std::lock_guard<std::mutex> lk(mu_);
    while (!segs_.empty() && segs_.back()->first > index) {
      drop.push_back(segs_.back());
      segs_.pop_back();
    }
    if (!segs_.empty()) keep = segs_.back();
  }
  for (const SegPtr& s : drop) {
    if (::unlink(s->path.c_str()) != 0) {
      *err = ioError(errno, "unlink", s->path);
      return false;
    }
  }
  const bool dropped = !drop.empty();
  reap(drop);  // whole segments cut off the end are freed off the writer thread too
  if (dropped && !syncDir(err)) return false;
  if (keep) {
    uint64_t from = keep->offs[index - keep->first];
    uint64_t to = keep->end;
    uint64_t prevTerm = keep->prevTerm;
    if (index > keep->first) {
      uint8_t t[8];
      uint64_t at = keep->offs[index - 1 - keep->first] + 16;
      if (::pread(keep->fd, t, 8, at) != 8) {
        *err = ioError(errno ? errno : EIO, "pread", keep->path);
        return false;
      }
      prevTerm = ld64(t);
    }
    if (!zeroRange(keep.get(), from, to, err)) return false;
    if (::fdatasync(keep->fd) != 0) {
      *err = ioError(errno, "fdatasync", keep->path);
      return false;
    }
    std::lock_guard<std::mutex> lk(mu_);
    keep->offs.resize(index - keep->first);
    keep->end = from;
    wLastTerm_ = prevTerm;
  } else {
    wLastTerm_ = baseTerm_;
  }
  wLast_ = index - 1;
  return true;
}

bool Wal::compact(uint64_t index, WalError* err) {
  size_t n = 0;
  while (n + 1 < segs_.size() && segs_[n + 1]->first <= index + 1) n++;
  if (n == 0) return true;
  const SegPtr& nf = segs_[n];
  if (!writeState(epoch_, nf->first - 1, nf->prevTerm, hardState_, err)) return false;
  std::vector<SegPtr> drop;
  {
    std::lock_guard<std::mutex> lk(mu_);
    drop.assign(segs_.begin(), segs_.begin() + n);
    segs_.erase(segs_.begin(), segs_.begin() + n);
  }
  for (const SegPtr& s : drop) ::unlink(s->path.c_str());  // leftovers are removed at next open
  reap(drop);
  return true;
}

bool Wal::reset(uint64_t index, uint64_t term, WalError* err) {
  if (!writeState(epoch_ + 1, index, term, hardState_, err)) return false;
  std::vector<SegPtr> drop;
  {
    std::lock_guard<std::mutex> lk(mu_);
    drop.swap(segs_);
  }
  for (auto it = drop.rbegin(); it != drop.rend(); ++it) ::unlink((*it)->path.c_str());
  reap(drop);
  syncDir(nullptr);  // stale segments carry the old epoch and are removed at next open anyway
  wLast_ = index;
  wLastTerm_ = term;
  return true;
}

void Wal::fillDone(Done* done) {
  done->lastIndex = wLast_;
  if (segs_.empty()) {
    done->firstIndex = base_ + 1;
    done->baseTerm = baseTerm_;
  } else {
    done->firstIndex = segs_.front()->first;
    done->baseTerm = segs_.front()->prevTerm;
  }
}

void Wal::process(std::vector<Op>& batch, Done* done) {
  for (Op& op : batch) {
    if (op.keepAlive) done->keepAlive.push_back(op.keepAlive);
  }
  done->seq = batch.back().seq;
  done->ops = static_cast<uint32_t>(batch.size());
  auto fail = [&](uint64_t seq, const WalError& e, bool broken) {
    done->failed = true;
    done->failedSeq = seq;
    done->error = e;
    done->broken = broken;
    if (broken) {
      broken_ = true;
      brokenError_ = e;
    }
    poisoned_ = true;
  };
  uint64_t groupFirstSeq = 0;
  for (size_t i = 0; i < batch.size(); i++) {
    Op& op = batch[i];
    if (broken_) {
      fail(op.seq, brokenError_, true);
      break;
    }
    if (poisoned_) {
      if (op.kind == Op::Clear) poisoned_ = false;
      continue;
    }
    WalError e;
    bool structural = op.kind != Op::Append || (op.count > 0 && op.first <= wLast_);
    if (structural && group_.active) {
      if (!flushGroup(&e, done)) {
        WalError re;
        bool ok = rollbackGroup(&re);
        fail(groupFirstSeq, e, !ok);
        break;
      }
    }
    if (op.kind == Op::Clear) continue;
    if (op.kind == Op::Compact) {
      if (!compact(op.first, &e)) {
        fail(op.seq, e, false);
        break;
      }
      continue;
    }
    if (op.kind == Op::Reset) {
      if (!reset(op.first, op.term, &e)) {
        fail(op.seq, e, false);
        break;
      }
      continue;
    }
    if (op.count > 0 && op.first <= wLast_) {
      if (!truncateFrom(op.first, &e)) {
        fail(op.seq, e, true);
        break;
      }
    }
    if (!group_.active) {
      beginGroup();
      groupFirstSeq = op.seq;
    }
    if (op.hasHardState) {
      group_.hasHardState = true;
      group_.hardState = op.hardState;
    }
    group_.commitHint = std::max(group_.commitHint, op.commitHint);
    if (op.count > 0 && !planAppend(op, &e)) {
      WalError re;
      bool ok = rollbackGroup(&re);
      fail(groupFirstSeq, e, !ok);
      break;
    }
  }
  if (!done->failed && group_.active) {
    WalError e;
    if (!flushGroup(&e, done)) {
      WalError re;
      bool ok = rollbackGroup(&re);
      fail(groupFirstSeq, e, !ok);
    }
  }
  fillDone(done);
}

// ---------------------------------------------------------------------------------------------
// Reads

std::string Wal::read(uint64_t lo, uint64_t hi, uint64_t maxBytes, uint32_t* count) {
  std::lock_guard<std::mutex> lk(mu_);
  std::string out;
  *count = 0;
  uint64_t payload = 0;
  size_t si = 0;
  // Binary search for the segment holding lo.
  size_t a = 0, b = segs_.size();
  while (b - a > 1) {
    size_t m = (a + b) / 2;
    if (segs_[m]->first <= lo) a = m; else b = m;
  }
  si = a;
  uint64_t idx = lo;
  while (idx < hi && si < segs_.size()) {
    Segment* s = segs_[si].get();
    if (idx < s->first || idx >= s->first + s->count()) break;
    uint64_t i0 = idx - s->first;
    uint64_t i1 = i0;
    uint64_t limit = std::min<uint64_t>(s->count(), hi - s->first);
    while (i1 < limit) {
      uint64_t recEnd = i1 + 1 < s->count() ? s->offs[i1 + 1] : s->end;
      uint64_t pl = recEnd - s->offs[i1] - kRecHeaderSize;
      if ((*count > 0 || i1 > i0) && payload + pl > maxBytes) break;
      payload += pl;
      i1++;
    }
    if (i1 == i0) break;
    uint64_t from = s->offs[i0];
    uint64_t to = i1 < s->count() ? s->offs[i1] : s->end;
    size_t at = out.size();
    out.resize(at + (to - from));
    uint64_t got = 0;
    while (got < to - from) {
      ssize_t n = ::pread(s->fd, &out[at + got], to - from - got, from + got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw ioError(n < 0 ? errno : EIO, "pread", s->path);
      got += n;
    }
    const uint8_t* p = reinterpret_cast<const uint8_t*>(out.data()) + at;
    for (uint64_t k = i0; k < i1; k++) {
      uint32_t len = ld32(p);
      uint64_t off = s->offs[k];
      if (len < kRecHeaderSize || ld32(p + 4) != recordCrc(p, len) || ld64(p + 8) != s->first + k)
        throw corrupt(s->path, off, "checksum mismatch on read");
      p += len;
    }
    *count += static_cast<uint32_t>(i1 - i0);
    idx = s->first + i1;
    if (i1 < limit) break;  // stopped by maxBytes
    si++;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Baseline for the benchmarks

int64_t baselineWriteSync(const std::string& path, uint32_t recordSize, uint32_t count, uint32_t batch,
                          std::vector<uint64_t>* latencies) {
  uint64_t total = static_cast<uint64_t>(recordSize) * count;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -errno;
  for (uint64_t off = 0; off < total + kZeroChunk; off += kZeroChunk) {
    if (::pwrite(fd, zeros(), kZeroChunk, off) != static_cast<ssize_t>(kZeroChunk)) {
      int e = errno;
      ::close(fd);
      return -e;
    }
  }
  ::fdatasync(fd);
  std::vector<uint8_t> buf(static_cast<size_t>(recordSize) * batch, 0xAB);
  auto now = [] {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
  };
  uint64_t t0 = now();
  uint64_t off = 0;
  for (uint32_t done = 0; done < count; done += batch) {
    uint32_t n = std::min(batch, count - done);
    uint64_t s = now();
    for (uint32_t k = 0; k < n; k++) st32(buf.data() + k * recordSize + 4, crc32c(0, buf.data() + k * recordSize + 8, recordSize - 8));
    if (::pwrite(fd, buf.data(), static_cast<size_t>(n) * recordSize, off) < 0 || ::fdatasync(fd) != 0) {
      int e = errno;
      ::close(fd);
      return -e;
    }
    off += static_cast<uint64_t>(n) * recordSize;
    latencies->push_back(now() - s);
  }
  int64_t elapsed = static_cast<int64_t>(now() - t0);
  ::close(fd);
  ::unlink(path.c_str());
  return elapsed;
}

}  // namespace flotilla
