// tsip's Linux TUN device: a small N-API addon.
//
// - open /dev/net/tun (IFF_TUN | IFF_NO_PI), optionally inside a network
//   namespace (setns to it for the open, then back), non-blocking;
// - wait with uv_poll and hand JavaScript a batch of packets per wake-up,
//   read into a slab the JavaScript side owns (no allocation per packet);
// - write single packets and batches;
// - optionally IFF_VNET_HDR with TUNSETOFFLOAD (checksum + TSO4/6): every
//   packet then starts with a 10-byte virtio_net_hdr. Offload is refused
//   without the header (the kernel would send unmarked partial checksums).
#include <napi.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

namespace {

std::string ErrnoText(const char* what, int err) {
  return std::string(what) + ": " + std::strerror(err) + " (errno " + std::to_string(err) + ")";
}

// Throw a JS Error carrying .errno and .code-like .syscall for the TS side.
Napi::Error ErrnoError(Napi::Env env, const char* what, int err) {
  Napi::Error e = Napi::Error::New(env, ErrnoText(what, err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, what));
  return e;
}

// Enter the network namespace at `path` for the lifetime of this object.
class NetnsGuard {
 public:
  NetnsGuard(Napi::Env env, const std::string& path) {
    if (path.empty()) return;
    orig_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (orig_ < 0) throw ErrnoError(env, "open /proc/thread-self/ns/net", errno);
    int target = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (target < 0) {
      int err = errno;
      close(orig_);
      orig_ = -1;
      throw ErrnoError(env, ("open " + path).c_str(), err);
    }
    if (setns(target, CLONE_NEWNET) != 0) {
      int err = errno;
      close(target);
      close(orig_);
      orig_ = -1;
      throw ErrnoError(env, "setns", err);
    }
    close(target);
  }
  ~NetnsGuard() {
    if (orig_ >= 0) {
      // Back to where we were; there is no sensible recovery if this fails.
      (void)setns(orig_, CLONE_NEWNET);
      close(orig_);
    }
  }

 private:
  int orig_ = -1;
};

class TunDevice : public Napi::ObjectWrap<TunDevice> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(env, "TunDevice",
                                      {
                                          InstanceMethod("start", &TunDevice::Start),
                                          InstanceMethod("stop", &TunDevice::Stop),
                                          InstanceMethod("write", &TunDevice::Write),
                                          InstanceMethod("writeBatch", &TunDevice::WriteBatch),
                                          InstanceMethod("close", &TunDevice::Close),
                                          InstanceAccessor("name", &TunDevice::Name, nullptr),
                                          InstanceAccessor("fd", &TunDevice::Fd, nullptr),
                                          InstanceAccessor("vnetHdr", &TunDevice::VnetHdr, nullptr),
                                      });
    exports.Set("TunDevice", ctor);
    exports.Set("VNET_HDR_LEN", Napi::Number::New(env, 10));
    return exports;
  }

  // new TunDevice({ name, vnetHdr, offload, netns })
  explicit TunDevice(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TunDevice>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "TunDevice(options) expects an object");
    Napi::Object o = info[0].As<Napi::Object>();
    std::string want = o.Has("name") && o.Get("name").IsString() ? o.Get("name").As<Napi::String>().Utf8Value() : "";
    vnet_ = o.Has("vnetHdr") && o.Get("vnetHdr").ToBoolean().Value();
    bool offload = o.Has("offload") && o.Get("offload").ToBoolean().Value();
    std::string netns = o.Has("netns") && o.Get("netns").IsString() ? o.Get("netns").As<Napi::String>().Utf8Value() : "";
    if (want.size() >= IFNAMSIZ) throw Napi::RangeError::New(env, "TUN device name longer than 15 characters");
    if (offload && !vnet_) throw Napi::Error::New(env, "offload needs the vnet header (vnetHdr: true): without it the kernel sends unmarked partial checksums");

    NetnsGuard ns(env, netns);
    fd_ = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd_ < 0) throw ErrnoError(env, "open /dev/net/tun", errno);
    struct ifreq ifr;
    std::memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (vnet_ ? IFF_VNET_HDR : 0);
    std::strncpy(ifr.ifr_name, want.c_str(), IFNAMSIZ - 1);
    if (ioctl(fd_, TUNSETIFF, &ifr) != 0) {
      int err = errno;
      close(fd_);
      fd_ = -1;
      throw ErrnoError(env, "ioctl TUNSETIFF", err);
    }
    name_ = ifr.ifr_name;
    if (offload) {
      unsigned long flags = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
      if (ioctl(fd_, TUNSETOFFLOAD, flags) != 0) {
        int err = errno;
        close(fd_);
        fd_ = -1;
        throw ErrnoError(env, "ioctl TUNSETOFFLOAD", err);
      }
    }
  }

  ~TunDevice() override { CloseFd(); }

 private:
  // start(slab: ArrayBuffer, meta: Uint32Array(2 * maxBatch), onBatch(count), onError(err))
  // Each batch: packet i is slab[meta[2i], meta[2i] + meta[2i+1]).
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) throw Napi::Error::New(env, "TUN device is closed");
    if (polling_) throw Napi::Error::New(env, "TUN device already started");
    if (info.Length() < 4 || !info[0].IsArrayBuffer() || !info[1].IsTypedArray() || !info[2].IsFunction() || !info[3].IsFunction())
      throw Napi::TypeError::New(env, "start(slab: ArrayBuffer, meta: Uint32Array, onBatch, onError)");
    Napi::ArrayBuffer slab = info[0].As<Napi::ArrayBuffer>();
    Napi::TypedArray meta = info[1].As<Napi::TypedArray>();
    if (meta.TypedArrayType() != napi_uint32_array) throw Napi::TypeError::New(env, "meta must be a Uint32Array");
    slabRef_ = Napi::Persistent(slab);
    metaRef_ = Napi::Persistent(meta.As<Napi::Uint32Array>());
    onBatch_ = Napi::Persistent(info[2].As<Napi::Function>());
    onError_ = Napi::Persistent(info[3].As<Napi::Function>());
    slab_ = static_cast<uint8_t*>(slab.Data());
    slabLen_ = slab.ByteLength();
    meta_ = metaRef_.Value().Data();
    maxBatch_ = metaRef_.Value().ElementLength() / 2;
    env_ = env;
    int rc = uv_poll_init(GetLoop(env), &poll_, fd_);
    if (rc != 0) throw Napi::Error::New(env, std::string("uv_poll_init: ") + uv_strerror(rc));
    poll_.data = this;
    rc = uv_poll_start(&poll_, UV_READABLE, &TunDevice::OnReadable);
    if (rc != 0) throw Napi::Error::New(env, std::string("uv_poll_start: ") + uv_strerror(rc));
    polling_ = true;
    Ref();  // stay alive while polling
    return env.Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    StopPoll();
    return info.Env().Undefined();
  }

  // write(data: Uint8Array) -> bytes written, or -errno for EAGAIN/ENOBUFS (dropped: the kernel queue is full)
  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) throw Napi::Error::New(env, "TUN device is closed");
    if (info.Length() < 1 || !info[0].IsTypedArray()) throw Napi::TypeError::New(env, "write(data: Uint8Array)");
    Napi::Uint8Array a = info[0].As<Napi::Uint8Array>();
    ssize_t n = ::write(fd_, a.Data(), a.ByteLength());
    if (n < 0) {
      int err = errno;
      if (err == EAGAIN || err == ENOBUFS || err == EINTR) return Napi::Number::New(env, -err);
      throw ErrnoError(env, "write", err);
    }
    return Napi::Number::New(env, static_cast<double>(n));
  }

  // writeBatch(slab: Uint8Array, meta: Uint32Array, count) -> packets written
  Napi::Value WriteBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) throw Napi::Error::New(env, "TUN device is closed");
    if (info.Length() < 3 || !info[0].IsTypedArray() || !info[1].IsTypedArray() || !info[2].IsNumber())
      throw Napi::TypeError::New(env, "writeBatch(slab: Uint8Array, meta: Uint32Array, count)");
    Napi::Uint8Array slab = info[0].As<Napi::Uint8Array>();
    Napi::Uint32Array meta = info[1].As<Napi::Uint32Array>();
    size_t count = info[2].As<Napi::Number>().Uint32Value();
    if (count * 2 > meta.ElementLength()) throw Napi::RangeError::New(env, "count exceeds meta");
    size_t written = 0;
    for (size_t i = 0; i < count; i++) {
      size_t off = meta[2 * i], len = meta[2 * i + 1];
      if (off + len > slab.ByteLength()) throw Napi::RangeError::New(env, "packet outside slab");
      ssize_t n = ::write(fd_, slab.Data() + off, len);
      if (n < 0) {
        int err = errno;
        if (err == EAGAIN || err == ENOBUFS || err == EINTR) continue;  // dropped, as a full queue would
        throw ErrnoError(env, "write", err);
      }
      written++;
    }
    return Napi::Number::New(env, static_cast<double>(written));
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    StopPoll();
    CloseFd();
    return info.Env().Undefined();
  }

  Napi::Value Name(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), name_); }
  Napi::Value Fd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }
  Napi::Value VnetHdr(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), vnet_); }

  static uv_loop_t* GetLoop(Napi::Env env) {
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    return loop;
  }

  static void OnReadable(uv_poll_t* handle, int status, int /*events*/) {
    auto* self = static_cast<TunDevice*>(handle->data);
    self->Drain(status);
  }

  // Read packets until the kernel has none left or the batch is full, then
  // hand the batch to JavaScript (which copies what it keeps).
  void Drain(int status) {
    Napi::HandleScope scope(env_);
    if (status < 0) {
      ReportError(std::string("poll: ") + uv_strerror(status), -status);
      return;
    }
    size_t count = 0;
    size_t used = 0;
    const size_t maxPacket = 65536 + 10;
    while (count < maxBatch_ && used + maxPacket <= slabLen_) {
      ssize_t n = ::read(fd_, slab_ + used, maxPacket);
      if (n < 0) {
        int err = errno;
        if (err == EAGAIN || err == EINTR) break;
        // EBADFD / EIO: the device went away while running.
        if (count > 0) Deliver(count);
        ReportError(ErrnoText("read", err), err);
        return;
      }
      if (n == 0) break;
      meta_[2 * count] = static_cast<uint32_t>(used);
      meta_[2 * count + 1] = static_cast<uint32_t>(n);
      used += static_cast<size_t>((n + 7) & ~7);
      count++;
    }
    if (count > 0) Deliver(count);
  }

  void Deliver(size_t count) {
    Napi::Object recv = Value();
    onBatch_.MakeCallback(recv, {Napi::Number::New(env_, static_cast<double>(count))});
  }

  void ReportError(const std::string& message, int err) {
    StopPoll();
    Napi::Error e = Napi::Error::New(env_, message);
    e.Set("errno", Napi::Number::New(env_, err));
    if (!onError_.IsEmpty()) onError_.MakeCallback(Value(), {e.Value()});
  }

  void StopPoll() {
    if (!polling_) return;
    polling_ = false;
    uv_poll_stop(&poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), &TunDevice::OnPollClosed);
  }

  static void OnPollClosed(uv_handle_t* handle) {
    auto* self = static_cast<TunDevice*>(handle->data);
    self->slabRef_.Reset();
    self->metaRef_.Reset();
    self->onBatch_.Reset();
    self->onError_.Reset();
    self->Unref();
  }

  void CloseFd() {
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
  }

  int fd_ = -1;
  bool vnet_ = false;
  bool polling_ = false;
  std::string name_;
  uv_poll_t poll_;
  Napi::Env env_ = nullptr;
  Napi::Reference<Napi::ArrayBuffer> slabRef_;
  Napi::Reference<Napi::Uint32Array> metaRef_;
  Napi::FunctionReference onBatch_;
  Napi::FunctionReference onError_;
  uint8_t* slab_ = nullptr;
  size_t slabLen_ = 0;
  uint32_t* meta_ = nullptr;
  size_t maxBatch_ = 0;
};

Napi::Object InitAll(Napi::Env env, Napi::Object exports) { return TunDevice::Init(env, exports); }

}  // namespace

NODE_API_MODULE(tsip_tun, InitAll)
