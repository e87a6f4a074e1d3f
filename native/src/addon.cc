// N-API surface of the write-ahead log. One call per batch of entries; completions come back
// through a thread-safe function. Argument checks here are a backstop: @flotilla/storage
// validates first and turns failures into typed errors.
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "crc32c.h"
#include "wal.h"

using namespace flotilla;

namespace {

Napi::Error toJsError(Napi::Env env, const WalError& e) {
  Napi::Error err = Napi::Error::New(env, e.message);
  Napi::Object o = err.Value();
  o.Set("code", e.code);
  if (e.err) o.Set("errno", Napi::Number::New(env, e.err));
  if (!e.syscall.empty()) o.Set("syscall", e.syscall);
  if (!e.file.empty()) o.Set("file", e.file);
  o.Set("offset", Napi::Number::New(env, static_cast<double>(e.offset)));
  return err;
}

bool getIndex(const Napi::Value& v, uint64_t* out) {
  if (!v.IsNumber()) return false;
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > 9007199254740991.0 || std::floor(d) != d) return false;
  *out = static_cast<uint64_t>(d);
  return true;
}

uint64_t optU64(const Napi::Object& o, const char* key, uint64_t dflt) {
  Napi::Value v = o.Get(key);
  uint64_t x;
  if (v.IsUndefined()) return dflt;
  if (!getIndex(v, &x)) {
    throw Napi::TypeError::New(o.Env(), std::string("option ") + key + " must be a non-negative integer");
  }
  return x;
}

struct Shared;
void callJs(Napi::Env env, Napi::Function cb, Shared* ctx, Done* done);
using Tsfn = Napi::TypedThreadSafeFunction<Shared, Done, callJs>;

struct Shared {
  uint64_t pendingOps = 0;
  bool referenced = false;
  Tsfn tsfn;
};

class WalHandle : public Napi::ObjectWrap<WalHandle> {
 public:
  static Napi::FunctionReference* ctor;
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Wal",
                       {InstanceMethod("start", &WalHandle::Start), InstanceMethod("append", &WalHandle::Append),
                        InstanceMethod("compact", &WalHandle::Compact), InstanceMethod("reset", &WalHandle::Reset),
                        InstanceMethod("clear", &WalHandle::Clear), InstanceMethod("read", &WalHandle::Read),
                        InstanceMethod("close", &WalHandle::Close),
                        InstanceMethod("writeCommitHint", &WalHandle::WriteCommitHint),
                        InstanceMethod("injectFault", &WalHandle::InjectFault)});
  }

  WalHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<WalHandle>(info) {
    if (info.Length() < 1 || !info[0].IsExternal())
      throw Napi::TypeError::New(info.Env(), "Wal objects are created by openWal()");
    wal_.reset(info[0].As<Napi::External<Wal>>().Data());
    if (info.Length() > 1 && info[1].IsNumber())
      maxRecord_ = info[1].As<Napi::Number>().Uint32Value();
  }

  ~WalHandle() override {
    if (wal_) wal_->close();
    if (started_) shared_->tsfn.Release();
  }

 private:
  std::unique_ptr<Wal> wal_;
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
  bool started_ = false;
  bool closed_ = false;
  uint32_t maxRecord_ = 8u << 20;

  void checkOpen(Napi::Env env) {
    if (closed_ || !started_) throw Napi::Error::New(env, closed_ ? "the log is closed" : "the log is not started");
  }

  uint64_t submit(Napi::Env env, Op op) {
    if (shared_->pendingOps++ == 0 && !shared_->referenced) {
      shared_->tsfn.Ref(env);
      shared_->referenced = true;
    }
    return wal_->submit(std::move(op));
  }

  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (started_) throw Napi::Error::New(env, "already started");
    if (info.Length() < 1 || !info[0].IsFunction()) throw Napi::TypeError::New(env, "start(callback)");
    // The context is owned by the handle; the finalizer has nothing to free.
    shared_->tsfn = Tsfn::New(env, info[0].As<Napi::Function>(), "flotilla-wal", 0, 1, shared_.get());
    shared_->tsfn.Unref(env);
    started_ = true;
    Tsfn tsfn = shared_->tsfn;
    wal_->start([tsfn](Done* d) mutable {
      if (tsfn.NonBlockingCall(d) != napi_ok) delete d;
    });
    return env.Undefined();
  }

  // append(records: Buffer, firstIndex, count, hardState: Buffer | null[, commitHint]) -> seq
  // hardState is written and synced with the group; commitHint (> 0) is recorded after the group
  // is durable, without a sync of its own.
  Napi::Value Append(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    checkOpen(env);
    if (info.Length() < 4 || !info[0].IsBuffer()) throw Napi::TypeError::New(env, "append(records, first, count, hardState)");
    Napi::Buffer<uint8_t> buf = info[0].As<Napi::Buffer<uint8_t>>();
    uint64_t first, count;
    if (!getIndex(info[1], &first) || !getIndex(info[2], &count) || count > 0xFFFFFFFFu)
      throw Napi::TypeError::New(env, "first and count must be non-negative integers");
    if (count > 0 && first == 0) throw Napi::RangeError::New(env, "indices start at 1");
    // Verify the layout the writer will trust.
    uint8_t* p = buf.Data();
    size_t len = buf.Length(), off = 0;
    for (uint64_t i = 0; i < count; i++) {
      if (len - off < kRecHeaderSize) throw Napi::RangeError::New(env, "records buffer too short");
      uint32_t rl;
      uint64_t idx;
      std::memcpy(&rl, p + off, 4);
      std::memcpy(&idx, p + off + 8, 8);
      if (rl < kRecHeaderSize || rl > maxRecord_ || rl > len - off) throw Napi::RangeError::New(env, "bad record length");
      if (idx != first + i) throw Napi::RangeError::New(env, "record indices are not consecutive");
      off += rl;
    }
    if (off != len) throw Napi::RangeError::New(env, "records buffer has trailing bytes");
    Op op;
    op.kind = Op::Append;
    op.data = p;
    op.len = len;
    op.first = first;
    op.count = static_cast<uint32_t>(count);
    if (info[3].IsBuffer()) {
      Napi::Buffer<char> hs = info[3].As<Napi::Buffer<char>>();
      if (hs.Length() > kMaxHardStateBytes) throw Napi::RangeError::New(env, "hard state too large");
      op.hasHardState = true;
      op.hardState.assign(hs.Data(), hs.Length());
    } else if (!info[3].IsNull() && !info[3].IsUndefined()) {
      throw Napi::TypeError::New(env, "hardState must be a Buffer or null");
    }
    if (info.Length() > 4 && !info[4].IsUndefined() && !getIndex(info[4], &op.commitHint))
      throw Napi::TypeError::New(env, "commitHint must be a non-negative integer");
    if (count == 0 && !op.hasHardState && op.commitHint == 0) throw Napi::RangeError::New(env, "nothing to write");
    if (count > 0) {
      napi_ref ref;
      if (napi_create_reference(env, buf, 1, &ref) != napi_ok) throw Napi::Error::New(env, "cannot reference buffer");
      op.keepAlive = ref;
    }
    return Napi::Number::New(env, static_cast<double>(submit(env, std::move(op))));
  }

  Napi::Value Compact(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    checkOpen(env);
    Op op;
    op.kind = Op::Compact;
    if (!getIndex(info[0], &op.first)) throw Napi::TypeError::New(env, "compact(index)");
    return Napi::Number::New(env, static_cast<double>(submit(env, std::move(op))));
  }

  Napi::Value Reset(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    checkOpen(env);
    Op op;
    op.kind = Op::Reset;
    if (!getIndex(info[0], &op.first) || !getIndex(info[1], &op.term)) throw Napi::TypeError::New(env, "reset(index, term)");
    return Napi::Number::New(env, static_cast<double>(submit(env, std::move(op))));
  }

  Napi::Value Clear(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    checkOpen(env);
    Op op;
    op.kind = Op::Clear;
    return Napi::Number::New(env, static_cast<double>(submit(env, std::move(op))));
  }

  // read(lo, hi, maxBytes) -> Buffer of raw records
  Napi::Value Read(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    checkOpen(env);
    uint64_t lo, hi, maxBytes;
    if (!getIndex(info[0], &lo) || !getIndex(info[1], &hi) || !getIndex(info[2], &maxBytes))
      throw Napi::TypeError::New(env, "read(lo, hi, maxBytes)");
    uint32_t count = 0;
    std::string* s;
    try {
      s = new std::string(wal_->read(lo, hi, maxBytes, &count));
    } catch (const WalError& e) {
      throw toJsError(env, e);
    }
    if (s->empty()) {
      delete s;
      return Napi::Buffer<char>::New(env, 0);
    }
    return Napi::Buffer<char>::New(env, &(*s)[0], s->size(), [](Napi::Env, char*, std::string* str) { delete str; }, s);
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (!closed_) {
      closed_ = true;
      if (wal_) wal_->close();
      if (started_) {
        started_ = false;
        shared_->tsfn.Release();
      }
      // Close files and release the lock now rather than at garbage collection.
      wal_.reset();
    }
    return info.Env().Undefined();
  }

  // writeCommitHint(commit): records a commit hint at once, on the calling thread (a pwrite into
  // the page cache, no sync). For when every submitted write is durable: the JS side calls it only
  // while the writer has nothing of its to do, so the hint never runs ahead of the log.
  Napi::Value WriteCommitHint(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    checkOpen(env);
    uint64_t commit;
    if (info.Length() < 1 || !getIndex(info[0], &commit) || commit == 0)
      throw Napi::TypeError::New(env, "writeCommitHint(commit): commit must be a positive integer");
    WalError e;
    if (!wal_->writeCommitHint(commit, &e)) throw toJsError(env, e);
    return env.Undefined();
  }

  Napi::Value InjectFault(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    checkOpen(env);
    wal_->injectFault(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value());
    return env.Undefined();
  }
};

Napi::FunctionReference* WalHandle::ctor = nullptr;

void callJs(Napi::Env env, Napi::Function cb, Shared* ctx, Done* done) {
  std::unique_ptr<Done> d(done);
  if (env == nullptr) return;
  for (void* r : d->keepAlive) napi_delete_reference(env, static_cast<napi_ref>(r));
  Napi::Value err = env.Null();
  if (d->failed) err = toJsError(env, d->error).Value();
  cb.Call({Napi::Number::New(env, static_cast<double>(d->seq)), Napi::Number::New(env, static_cast<double>(d->lastIndex)),
           Napi::Number::New(env, static_cast<double>(d->firstIndex)),
           Napi::Number::New(env, static_cast<double>(d->baseTerm)),
           Napi::Number::New(env, static_cast<double>(d->failedSeq)), err, Napi::Boolean::New(env, d->broken),
           Napi::Number::New(env, static_cast<double>(d->syncs)), Napi::Number::New(env, static_cast<double>(d->syncNs))});
  // Let the process exit once nothing is in flight.
  ctx->pendingOps -= std::min<uint64_t>(ctx->pendingOps, d->ops);
  if (ctx->pendingOps == 0 && ctx->referenced) {
    ctx->tsfn.Unref(env);
    ctx->referenced = false;
  }
}

class OpenWorker : public Napi::AsyncWorker {
 public:
  OpenWorker(Napi::Env env, std::string dir, WalOptions opts)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), dir_(std::move(dir)), opts_(opts) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      wal_ = Wal::open(dir_, opts_, &info_);
    } catch (const WalError& e) {
      err_ = e;
      failed_ = true;
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (failed_) {
      deferred_.Reject(toJsError(env, err_).Value());
      return;
    }
    Napi::Object handle = WalHandle::ctor->New(
        {Napi::External<Wal>::New(env, wal_.release()), Napi::Number::New(env, opts_.maxRecordBytes)});
    Napi::Object r = Napi::Object::New(env);
    r.Set("wal", handle);
    r.Set("firstIndex", Napi::Number::New(env, static_cast<double>(info_.firstIndex)));
    r.Set("lastIndex", Napi::Number::New(env, static_cast<double>(info_.lastIndex)));
    r.Set("baseTerm", Napi::Number::New(env, static_cast<double>(info_.baseTerm)));
    Napi::Float64Array runs = Napi::Float64Array::New(env, info_.runs.size());
    for (size_t i = 0; i < info_.runs.size(); i++) runs[i] = static_cast<double>(info_.runs[i]);
    r.Set("runs", runs);
    r.Set("hardState", Napi::Buffer<char>::Copy(env, info_.hardState.data(), info_.hardState.size()));
    r.Set("commitHint", Napi::Number::New(env, static_cast<double>(info_.commitHint)));
    if (!info_.tornFile.empty()) {
      Napi::Object t = Napi::Object::New(env);
      t.Set("file", info_.tornFile);
      t.Set("offset", Napi::Number::New(env, static_cast<double>(info_.tornOffset)));
      t.Set("bytes", Napi::Number::New(env, static_cast<double>(info_.tornBytes)));
      r.Set("torn", t);
    }
    deferred_.Resolve(r);
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string dir_;
  WalOptions opts_;
  RecoveryInfo info_;
  std::unique_ptr<Wal> wal_;
  WalError err_;
  bool failed_ = false;
};

// openWal(dir, { segmentSize, maxBatchBytes, maxRecordBytes, preallocate }) -> Promise
Napi::Value OpenWal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "openWal(dir, options)");
  WalOptions opts;
  if (info.Length() > 1 && info[1].IsObject()) {
    Napi::Object o = info[1].As<Napi::Object>();
    opts.segmentSize = optU64(o, "segmentSize", opts.segmentSize);
    opts.maxBatchBytes = optU64(o, "maxBatchBytes", opts.maxBatchBytes);
    opts.maxRecordBytes = static_cast<uint32_t>(optU64(o, "maxRecordBytes", opts.maxRecordBytes));
    Napi::Value pre = o.Get("preallocate");
    if (pre.IsBoolean()) opts.preallocate = pre.As<Napi::Boolean>().Value();
  }
  if (opts.segmentSize < 4096 || opts.segmentSize > (1ull << 30))
    throw Napi::RangeError::New(env, "segmentSize must be between 4 KiB and 1 GiB");
  if (opts.maxRecordBytes < kRecHeaderSize || opts.maxRecordBytes > opts.segmentSize - kSegHeaderSize)
    throw Napi::RangeError::New(env, "maxRecordBytes must fit in a segment");
  auto* w = new OpenWorker(env, info[0].As<Napi::String>().Utf8Value(), opts);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// crc32c(data, initial = 0) -> number
Napi::Value Crc32c(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray()) throw Napi::TypeError::New(env, "crc32c(Uint8Array, initial?)");
  Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
  const uint8_t* data = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  uint32_t init = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 0;
  return Napi::Number::New(env, crc32c(init, data, ta.ByteLength()));
}

class BaselineWorker : public Napi::AsyncWorker {
 public:
  BaselineWorker(Napi::Env env, std::string path, uint32_t size, uint32_t count, uint32_t batch)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), path_(std::move(path)), size_(size),
        count_(count), batch_(batch) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override { elapsed_ = baselineWriteSync(path_, size_, count_, batch_, &lat_); }
  void OnOK() override {
    Napi::Env env = Env();
    if (elapsed_ < 0) {
      WalError e;
      e.code = "ERRNO";
      e.err = static_cast<int>(-elapsed_);
      e.message = std::string("baseline: ") + std::strerror(e.err);
      deferred_.Reject(toJsError(env, e).Value());
      return;
    }
    Napi::Object r = Napi::Object::New(env);
    r.Set("elapsedNs", Napi::Number::New(env, static_cast<double>(elapsed_)));
    Napi::Float64Array l = Napi::Float64Array::New(env, lat_.size());
    for (size_t i = 0; i < lat_.size(); i++) l[i] = static_cast<double>(lat_[i]);
    r.Set("batchLatencyNs", l);
    deferred_.Resolve(r);
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  uint32_t size_, count_, batch_;
  int64_t elapsed_ = 0;
  std::vector<uint64_t> lat_;
};

// baselineWriteSync(path, recordSize, count, batch) -> Promise<{ elapsedNs, batchLatencyNs }>
Napi::Value Baseline(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsString()) throw Napi::TypeError::New(env, "baselineWriteSync(path, size, count, batch)");
  uint32_t size = info[1].As<Napi::Number>().Uint32Value();
  uint32_t count = info[2].As<Napi::Number>().Uint32Value();
  uint32_t batch = info[3].As<Napi::Number>().Uint32Value();
  if (size < 16 || count == 0 || batch == 0) throw Napi::RangeError::New(env, "bad baseline arguments");
  auto* w = new BaselineWorker(env, info[0].As<Napi::String>().Utf8Value(), size, count, batch);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// tuneAllocator(mmapThresholdBytes, trimThresholdBytes, topPadBytes) -> boolean: sets glibc's malloc
// parameters for the whole process (mallopt); false where the C library is not glibc. Ranges are
// checked in @flotilla/storage; mallopt itself refuses an mmap threshold above 32 MiB.
Napi::Value TuneAllocator(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber())
    throw Napi::TypeError::New(env, "tuneAllocator(mmapThresholdBytes, trimThresholdBytes, topPadBytes)");
  int values[3];
  for (int i = 0; i < 3; i++) {
    double v = info[i].As<Napi::Number>().DoubleValue();
    if (!(v >= 0 && v <= 2147483647.0) || std::floor(v) != v) throw Napi::RangeError::New(env, "tuneAllocator: sizes must be integers in [0, 2^31)");
    values[i] = static_cast<int>(v);
  }
#if defined(__GLIBC__)
  bool ok = mallopt(M_MMAP_THRESHOLD, values[0]) == 1;
  ok = mallopt(M_TRIM_THRESHOLD, values[1]) == 1 && ok;
  ok = mallopt(M_TOP_PAD, values[2]) == 1 && ok;
  return Napi::Boolean::New(env, ok);
#else
  return Napi::Boolean::New(env, false);
#endif
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = WalHandle::Init(env);
  WalHandle::ctor = new Napi::FunctionReference(Napi::Persistent(ctor));
  exports.Set("Wal", ctor);
  exports.Set("openWal", Napi::Function::New(env, OpenWal));
  exports.Set("crc32c", Napi::Function::New(env, Crc32c));
  exports.Set("crc32cHardware", Napi::Boolean::New(env, crc32cHardware()));
  exports.Set("baselineWriteSync", Napi::Function::New(env, Baseline));
  exports.Set("recordHeaderSize", Napi::Number::New(env, kRecHeaderSize));
  exports.Set("tuneAllocator", Napi::Function::New(env, TuneAllocator));
  return exports;
}

}  // namespace

NODE_API_MODULE(flotilla_native, Init)
