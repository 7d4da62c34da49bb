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
// - optionally a transmit thread (startTx): JavaScript copies packets into
//   a ring in memory this addon owns (handed to JavaScript as an external
//   ArrayBuffer) and publishes them by moving a head index (Atomics); a
//   native thread write(2)s them to the device and moves the tail. A TUN
//   write runs the kernel's receive path inline (IP, TCP, the socket
//   wake-up), so this takes that work off the JavaScript thread, with no
//   N-API call per packet: JavaScript calls kick() only when the thread
//   said it is going to sleep, and txWait() only when the ring is full.
// - optionally a receive thread (startRx): the mirror image. A native thread
//   read(2)s packets into a second addon-owned ring and publishes them with
//   one atomic store per burst; JavaScript drains the ring and moves the
//   tail, and is woken (uv_async) only when it said it is idle. Reading is
//   handed between the two: while a read on the JavaScript thread finds a
//   backlog of `engage` packets the thread reads, and after `idleWakes`
//   wake-ups in a row that carried a packet or two to an idle JavaScript
//   thread it hands reading back (request/response then keeps one wake-up
//   per packet, as without the thread). See "The receive ring".
#include <napi.h>
#include <uv.h>

#include "gro.h"
#include "gso.h"

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <string>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <thread>
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


// ---------------------------------------------------------------------------
// The transmit ring. One block of memory: a control area of CTRL_BYTES
// (32-bit words, each side's hot word on a cache line of its own), then
// `cap` bytes of records (cap a power of two). A record at byte position
// pos (8-aligned) is a little-endian u32 length followed by that many bytes
// (the packet, with its vnet header when the device has one), padded to 8;
// the length WRAP means "the rest of the ring is unused, go on at 0".
// head and tail are byte counts modulo 2^32 (positions are count & (cap-1)):
// JavaScript alone writes head, the thread alone writes tail.
namespace ring {
constexpr size_t CTRL_BYTES = 256;
constexpr int HEAD = 0;       // JS: bytes published
constexpr int TAIL = 16;      // thread: bytes consumed
constexpr int SLEEPING = 32;  // thread: 1 = asleep or about to be (JS: kick)
constexpr int WANT = 33;      // JS: free bytes it waits for in txWait (0: not waiting)
constexpr int DROPS = 34;     // thread: packets the kernel refused (EAGAIN/ENOBUFS/EINVAL...)
constexpr int FATAL = 35;     // thread: errno that stopped it (device gone), 0 while running
constexpr int LAST_ERRNO = 36;  // thread: errno of the last refused packet
constexpr int PACKETS = 48;   // thread: packets written (a line of its own: updated per burst)
constexpr int WAKEUPS = 49;   // thread: times it slept and was woken
constexpr uint32_t WRAP = 0xFFFFFFFFu;
}  // namespace ring

struct TxRing {
  std::atomic<int> refs{1};
  uint8_t* mem = nullptr;
  size_t cap = 0;
  ~TxRing() { std::free(mem); }
  std::atomic<uint32_t>* word(int i) { return reinterpret_cast<std::atomic<uint32_t>*>(mem + 4 * i); }
  uint8_t* data() { return mem + ring::CTRL_BYTES; }
  void Release() {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
};
static_assert(sizeof(std::atomic<uint32_t>) == 4, "lock-free 32-bit atomics");

// ---------------------------------------------------------------------------
// The receive ring: the same block and record format as the transmit ring,
// the other way round: the thread alone writes head (and the records), the
// JavaScript side alone writes tail. Who reads the device is MODE: INLINE
// (JavaScript, uv_poll; the thread parked on a futex), THREAD, or HANDBACK
// (the thread stopped reading and waits for JavaScript to empty the ring
// and take over). Waking JavaScript: it sets JS_IDLE to 1 when it found the
// ring empty, then checks head and MODE again; the thread, after each store
// of head or MODE, takes JS_IDLE back to 0 and sends the uv_async when it
// was 1 (both sides' store-then-load are seq_cst: one of them sees the other).
namespace rxring {
constexpr int HEAD = 0;        // thread: bytes published
constexpr int TAIL = 16;       // JS: bytes consumed
constexpr int JS_IDLE = 32;    // JS: 1 = idle, wake me (thread: 1 -> 0 and uv_async_send)
constexpr int MODE = 33;       // who reads: see below
constexpr int ROOM_WAIT = 34;  // thread: 1 = waiting for room (JS: rxKick after moving tail)
constexpr int FATAL = 35;      // thread: errno that stopped it (device gone), 0 while running
constexpr int PACKETS = 48;    // thread: packets read into the ring
constexpr int WAKEUPS = 49;    // thread: uv_async wake-ups sent to JS
constexpr int FULL = 50;       // thread: times it found the ring full and stopped reading
constexpr int ENGAGES = 51;    // JS: times a backlog handed reading to the thread
constexpr int HANDBACKS = 52;  // thread: times it handed reading back to JS
constexpr int COALESCED = 53;  // thread: segments merged into the one before (gro.h)
constexpr uint32_t INLINE = 0, THREAD = 1, HANDBACK = 2, STOPPED = 3;
// Room the thread keeps for one read: the largest packet (64 KiB, vnet header) and its length word.
constexpr uint32_t MAX_PACKET = 65536 + 10;
constexpr uint32_t MAX_RECORD = (4 + MAX_PACKET + 7) & ~7u;
}  // namespace rxring

long Futex(std::atomic<uint32_t>* addr, int op, uint32_t val, const struct timespec* timeout) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), op | FUTEX_PRIVATE_FLAG, val, timeout, nullptr, 0);
}

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Receive checksum offload, as a NIC does it: the read paths vouch for a
// plain (no vnet header) IPv4/IPv6 TCP or UDP packet, not a fragment, whose
// checksum they found right, by setting bit 24 of its length (RX_CSUM_OK);
// JavaScript marks its pbuf PbufFlag.CSUM_VALID and skips the sum. A wrong
// or absent checksum gets no mark: JavaScript checks and counts it as before.
constexpr uint32_t RX_CSUM_OK = 1u << 24;
// Bit 25 of a receive record's length: the receive thread merged this
// packet from two or more segments (gro.h). TCP then ACKs it as it would
// have ACKed the second of them: at once, not on the delayed-ACK timer.
constexpr uint32_t RX_COALESCED = 1u << 25;

using gro::Fold;
using gro::SumBytes;

// Transmit checksum offload, done here for a plain TUN (no vnet header): a
// record whose length has bit 24 set (TX_CSUM_NEEDED) is an IPv4/IPv6 TCP
// packet whose checksum field holds the folded pseudo-header sum
// (CHECKSUM_PARTIAL, what a vnet header's NEEDS_CSUM asks of the kernel);
// the writer sums the TCP header and data and stores the checksum before
// the write, on the transmit thread when it runs: not on JavaScript's.
constexpr uint32_t TX_CSUM_NEEDED = 1u << 24;
// Transmit segmentation for a plain TUN (gso.h): a record whose length has
// bit 25 set (TX_GSO) starts with a little-endian u32 MSS (counted in the
// length), then a TCP super-segment the writer cuts into MSS-sized packets.
constexpr uint32_t TX_GSO = 1u << 25;

void CompleteTcpChecksum(uint8_t* pkt, uint32_t len) {
  uint32_t start;
  if (len < 1) return;
  if (pkt[0] >> 4 == 4) {
    start = (pkt[0] & 15u) * 4;
  } else if (pkt[0] >> 4 == 6) {
    start = 40;  // tsip's TCP puts no extension headers in front of its segments
  } else {
    return;
  }
  if (start < 20 || start + 20 > len) return;
  uint8_t* t = pkt + start;
  // Native-order words: the sum and its complement stored back in native
  // order give the same bytes as the big-endian computation (RFC 1071 §2(B)).
  uint16_t c = static_cast<uint16_t>(~Fold(SumBytes(t, len - start, 0)));
  std::memcpy(t + 16, &c, 2);
}

inline uint64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
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
                                          InstanceMethod("startTx", &TunDevice::StartTx),
                                          InstanceMethod("kick", &TunDevice::Kick),
                                          InstanceMethod("txWait", &TunDevice::TxWait),
                                          InstanceMethod("txInline", &TunDevice::TxInline),
                                          InstanceMethod("startRx", &TunDevice::StartRx),
                                          InstanceMethod("rxKick", &TunDevice::RxKick),
                                          InstanceMethod("rxInline", &TunDevice::RxInline),
                                          InstanceMethod("busyPollStats", &TunDevice::BusyPollStats),
                                          InstanceAccessor("name", &TunDevice::Name, nullptr),
                                          InstanceAccessor("fd", &TunDevice::Fd, nullptr),
                                          InstanceAccessor("vnetHdr", &TunDevice::VnetHdr, nullptr),
                                      });
    exports.Set("TunDevice", ctor);
    exports.Set("VNET_HDR_LEN", Napi::Number::New(env, 10));
    exports.Set("RX_CSUM_OK", Napi::Number::New(env, RX_CSUM_OK));
    exports.Set("RX_COALESCED", Napi::Number::New(env, RX_COALESCED));
    exports.Set("TX_CSUM_NEEDED", Napi::Number::New(env, TX_CSUM_NEEDED));
    exports.Set("TX_GSO", Napi::Number::New(env, TX_GSO));
    Napi::Object layout = Napi::Object::New(env);
    layout.Set("ctrlBytes", Napi::Number::New(env, ring::CTRL_BYTES));
    layout.Set("head", Napi::Number::New(env, ring::HEAD));
    layout.Set("tail", Napi::Number::New(env, ring::TAIL));
    layout.Set("sleeping", Napi::Number::New(env, ring::SLEEPING));
    layout.Set("want", Napi::Number::New(env, ring::WANT));
    layout.Set("drops", Napi::Number::New(env, ring::DROPS));
    layout.Set("fatal", Napi::Number::New(env, ring::FATAL));
    layout.Set("packets", Napi::Number::New(env, ring::PACKETS));
    layout.Set("lastErrno", Napi::Number::New(env, ring::LAST_ERRNO));
    layout.Set("wakeups", Napi::Number::New(env, ring::WAKEUPS));
    exports.Set("TX_RING", layout);
    Napi::Object rx = Napi::Object::New(env);
    rx.Set("ctrlBytes", Napi::Number::New(env, ring::CTRL_BYTES));
    rx.Set("head", Napi::Number::New(env, rxring::HEAD));
    rx.Set("tail", Napi::Number::New(env, rxring::TAIL));
    rx.Set("jsIdle", Napi::Number::New(env, rxring::JS_IDLE));
    rx.Set("mode", Napi::Number::New(env, rxring::MODE));
    rx.Set("roomWait", Napi::Number::New(env, rxring::ROOM_WAIT));
    rx.Set("fatal", Napi::Number::New(env, rxring::FATAL));
    rx.Set("packets", Napi::Number::New(env, rxring::PACKETS));
    rx.Set("wakeups", Napi::Number::New(env, rxring::WAKEUPS));
    rx.Set("full", Napi::Number::New(env, rxring::FULL));
    rx.Set("engages", Napi::Number::New(env, rxring::ENGAGES));
    rx.Set("handbacks", Napi::Number::New(env, rxring::HANDBACKS));
    rx.Set("coalesced", Napi::Number::New(env, rxring::COALESCED));
    rx.Set("handback", Napi::Number::New(env, rxring::HANDBACK));
    exports.Set("RX_RING", rx);
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
    // Join the native threads when the environment goes away (exit, a worker ending).
    if (napi_add_env_cleanup_hook(env, &TunDevice::OnEnvExit, this) == napi_ok) hooked_ = true;
  }

  static void OnEnvExit(void* arg) {
    auto* self = static_cast<TunDevice*>(arg);
    self->hooked_ = false;
    self->StopRxThread();
    self->StopTx();
  }

  ~TunDevice() override {
    if (hooked_) napi_remove_env_cleanup_hook(Env(), &TunDevice::OnEnvExit, this);
    StopRxThread();
    StopTx();
    CloseFd();
  }

 private:
  // start(slab: ArrayBuffer, meta: Uint32Array(2 * maxBatch), onBatch(count, merged), onError(err), { coalesce }?)
  // Each batch: packet i is slab[meta[2i], meta[2i] + (meta[2i+1] & 0xFFFFFF)),
  // bit 24 of meta[2i+1] (RX_CSUM_OK): its TCP/UDP checksum was found right;
  // bit 25 (RX_COALESCED): merged from two or more segments (coalesce, on by default).
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) throw Napi::Error::New(env, "TUN device is closed");
    if (polling_) throw Napi::Error::New(env, "TUN device already started");
    if (info.Length() < 4 || !info[0].IsArrayBuffer() || !info[1].IsTypedArray() || !info[2].IsFunction() || !info[3].IsFunction())
      throw Napi::TypeError::New(env, "start(slab: ArrayBuffer, meta: Uint32Array, onBatch, onError)");
    Napi::ArrayBuffer slab = info[0].As<Napi::ArrayBuffer>();
    Napi::TypedArray meta = info[1].As<Napi::TypedArray>();
    if (meta.TypedArrayType() != napi_uint32_array) throw Napi::TypeError::New(env, "meta must be a Uint32Array");
    if (info.Length() > 4 && info[4].IsObject()) {
      Napi::Object o = info[4].As<Napi::Object>();
      if (o.Has("coalesce")) coalesce_ = o.Get("coalesce").ToBoolean().Value();
      if (o.Has("busyPollUs")) {
        const double us = o.Get("busyPollUs").ToNumber().DoubleValue();
        if (!(us >= 0 && us <= 1e6)) throw Napi::RangeError::New(env, "busyPollUs must be between 0 and 1e6");
        busyPollNs_ = static_cast<uint64_t>(us * 1000.0);
      }
    }
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
    pollActive_ = true;
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
    StopPoll();  // joins the receive thread too
    StopTx();  // writes what is queued, then joins the thread
    CloseFd();
    return info.Env().Undefined();
  }


  // startTx({ ringBytes, spinUs }) -> ArrayBuffer: the ring (control area,
  // then the records), memory this addon owns; it stays valid for as long
  // as JavaScript holds the buffer, even after close().
  Napi::Value StartTx(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) throw Napi::Error::New(env, "TUN device is closed");
    if (tx_ != nullptr) throw Napi::Error::New(env, "TUN transmit thread already started");
    size_t want = 1 << 20;
    if (info.Length() > 0 && info[0].IsObject()) {
      Napi::Object o = info[0].As<Napi::Object>();
      if (o.Has("ringBytes") && o.Get("ringBytes").IsNumber()) want = o.Get("ringBytes").As<Napi::Number>().Int64Value();
      if (o.Has("spinUs") && o.Get("spinUs").IsNumber()) spinNs_ = static_cast<uint64_t>(o.Get("spinUs").As<Napi::Number>().DoubleValue() * 1000);
    }
    if (want < 256 * 1024 || want > (1u << 30)) throw Napi::RangeError::New(env, "ringBytes must be between 256 KiB and 1 GiB");
    size_t cap = 1;
    while (cap < want) cap <<= 1;
    auto* r = new TxRing();
    void* mem = nullptr;
    if (posix_memalign(&mem, 4096, ring::CTRL_BYTES + cap) != 0) {
      delete r;
      throw Napi::Error::New(env, "out of memory for the TUN transmit ring");
    }
    std::memset(mem, 0, ring::CTRL_BYTES);
    r->mem = static_cast<uint8_t*>(mem);
    r->cap = cap;
    r->refs.fetch_add(1);  // one for this object, one for the ArrayBuffer
    Napi::ArrayBuffer ab;
    try {
      ab = Napi::ArrayBuffer::New(env, r->mem, ring::CTRL_BYTES + cap, [](Napi::Env, void*, TxRing* hint) { hint->Release(); }, r);
    } catch (...) {
      delete r;
      throw;
    }
    tx_ = r;
    txStop_.store(false);
    txThread_ = std::thread([this, r] {
      pthread_setname_np(pthread_self(), "tsip-tun-tx");
      TxLoop(r);
    });
    return ab;
  }

  // kick(): wake the transmit thread (JavaScript has set SLEEPING to 0).
  Napi::Value Kick(const Napi::CallbackInfo& info) {
    if (tx_ != nullptr) Futex(tx_->word(ring::SLEEPING), FUTEX_WAKE, 1, nullptr);
    return info.Env().Undefined();
  }

  // txWait(freeBytes, timeoutMs) -> free bytes now: block until the ring has
  // freeBytes free, the thread stopped, or the time is up (back-pressure).
  Napi::Value TxWait(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (tx_ == nullptr) throw Napi::Error::New(env, "TUN transmit thread not started");
    uint32_t want = info[0].As<Napi::Number>().Uint32Value();
    double ms = info[1].As<Napi::Number>().DoubleValue();
    TxRing* r = tx_;
    if (want > r->cap) want = static_cast<uint32_t>(r->cap);
    uint64_t deadline = NowNs() + static_cast<uint64_t>(ms * 1e6);
    auto freeBytes = [r]() -> uint32_t {
      uint32_t used = r->word(ring::HEAD)->load(std::memory_order_relaxed) - r->word(ring::TAIL)->load(std::memory_order_acquire);
      return static_cast<uint32_t>(r->cap) - used;
    };
    // The thread may be asleep with work queued (JavaScript kicks after publishing; be sure).
    uint32_t one = 1;
    if (r->word(ring::SLEEPING)->compare_exchange_strong(one, 0)) Futex(r->word(ring::SLEEPING), FUTEX_WAKE, 1, nullptr);
    for (;;) {
      uint32_t t = r->word(ring::TAIL)->load(std::memory_order_acquire);
      uint32_t f = freeBytes();
      if (f >= want || r->word(ring::FATAL)->load() != 0 || !txThread_.joinable()) return Napi::Number::New(env, f);
      uint64_t now = NowNs();
      if (now >= deadline) return Napi::Number::New(env, f);
      r->word(ring::WANT)->store(want, std::memory_order_seq_cst);
      if (r->word(ring::TAIL)->load(std::memory_order_seq_cst) != t) continue;
      struct timespec ts;
      uint64_t left = deadline - now;
      ts.tv_sec = static_cast<time_t>(left / 1000000000ull);
      ts.tv_nsec = static_cast<long>(left % 1000000000ull);
      Futex(r->word(ring::TAIL), FUTEX_WAIT, t, &ts);
      r->word(ring::WANT)->store(0, std::memory_order_relaxed);
    }
  }

  // startRx({ ringBytes, engage, idleWakes }, onRx) -> ArrayBuffer: the
  // receive ring (control area, then records), memory this addon owns.
  // Call after start(). engage 0: the thread always reads; else reading
  // stays on the JavaScript thread (uv_poll) until one read finds `engage`
  // packets waiting. onRx() is called (uv_async) when the thread published
  // records, handed reading back or failed while JavaScript was idle.
  Napi::Value StartRx(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) throw Napi::Error::New(env, "TUN device is closed");
    if (!polling_) throw Napi::Error::New(env, "startRx() needs start() first");
    if (rx_ != nullptr) throw Napi::Error::New(env, "TUN receive thread already started");
    if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) throw Napi::TypeError::New(env, "startRx({ ringBytes, engage, idleWakes }, onRx)");
    Napi::Object o = info[0].As<Napi::Object>();
    size_t want = 1 << 20;
    if (o.Has("ringBytes") && o.Get("ringBytes").IsNumber()) want = o.Get("ringBytes").As<Napi::Number>().Int64Value();
    if (o.Has("engage") && o.Get("engage").IsNumber()) engage_ = o.Get("engage").As<Napi::Number>().Uint32Value();
    if (o.Has("idleWakes") && o.Get("idleWakes").IsNumber()) idleWakes_ = o.Get("idleWakes").As<Napi::Number>().Uint32Value();
    if (o.Has("coalesce")) coalesce_ = o.Get("coalesce").ToBoolean().Value();
    if (want < 256 * 1024 || want > (1u << 30)) throw Napi::RangeError::New(env, "ringBytes must be between 256 KiB and 1 GiB");
    size_t cap = 1;
    while (cap < want) cap <<= 1;
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0) throw ErrnoError(env, "eventfd", errno);
    auto* r = new TxRing();  // same block and reference count; the rx layout on top
    void* mem = nullptr;
    if (posix_memalign(&mem, 4096, ring::CTRL_BYTES + cap) != 0) {
      delete r;
      close(efd);
      throw Napi::Error::New(env, "out of memory for the TUN receive ring");
    }
    std::memset(mem, 0, ring::CTRL_BYTES);
    r->mem = static_cast<uint8_t*>(mem);
    r->cap = cap;
    r->word(rxring::JS_IDLE)->store(1);
    r->word(rxring::MODE)->store(engage_ == 0 ? rxring::THREAD : rxring::INLINE);
    r->refs.fetch_add(1);
    Napi::ArrayBuffer ab;
    try {
      ab = Napi::ArrayBuffer::New(env, r->mem, ring::CTRL_BYTES + cap, [](Napi::Env, void*, TxRing* hint) { hint->Release(); }, r);
    } catch (...) {
      delete r;
      close(efd);
      throw;
    }
    int rc = uv_async_init(GetLoop(env), &async_, &TunDevice::OnAsync);
    if (rc != 0) {
      r->Release();
      close(efd);
      throw Napi::Error::New(env, std::string("uv_async_init: ") + uv_strerror(rc));
    }
    async_.data = this;
    asyncOpen_ = true;
    Ref();  // released when the async handle is closed
    onRx_ = Napi::Persistent(info[1].As<Napi::Function>());
    rx_ = r;
    rxStopFd_ = efd;
    if (engage_ == 0 && pollActive_) {
      uv_poll_stop(&poll_);
      pollActive_ = false;
    }
    rxThread_ = std::thread([this, r] {
      pthread_setname_np(pthread_self(), "tsip-tun-rx");
      RxLoop(r);
    });
    return ab;
  }

  // rxKick(): the thread waits for room (ROOM_WAIT) and JavaScript moved the tail.
  Napi::Value RxKick(const Napi::CallbackInfo& info) {
    if (rx_ != nullptr) Futex(rx_->word(rxring::TAIL), FUTEX_WAKE, 1, nullptr);
    return info.Env().Undefined();
  }

  // rxInline(): JavaScript emptied the ring after the thread handed reading
  // back (MODE HANDBACK): read on this thread again, with uv_poll.
  Napi::Value RxInline(const Napi::CallbackInfo& info) {
    TxRing* r = rx_;
    if (r == nullptr || !polling_) return info.Env().Undefined();
    uint32_t m = rxring::HANDBACK;
    if (r->word(rxring::MODE)->compare_exchange_strong(m, rxring::INLINE) && !pollActive_) {
      if (uv_poll_start(&poll_, UV_READABLE, &TunDevice::OnReadable) == 0) pollActive_ = true;
    }
    return info.Env().Undefined();
  }

  // A read on the JavaScript thread found a backlog: the thread reads from now on.
  void Engage() {
    TxRing* r = rx_;
    if (pollActive_) {
      uv_poll_stop(&poll_);
      pollActive_ = false;
    }
    r->word(rxring::ENGAGES)->fetch_add(1, std::memory_order_relaxed);
    // JavaScript looks at the ring only when woken: the first burst must wake it.
    r->word(rxring::JS_IDLE)->store(1, std::memory_order_seq_cst);
    r->word(rxring::MODE)->store(rxring::THREAD, std::memory_order_seq_cst);
    Futex(r->word(rxring::MODE), FUTEX_WAKE, 1, nullptr);
  }

  static void OnAsync(uv_async_t* handle) {
    auto* self = static_cast<TunDevice*>(handle->data);
    if (self->onRx_.IsEmpty()) return;
    Napi::HandleScope scope(self->env_);
    self->onRx_.MakeCallback(self->Value(), {});
  }

  // Wake JavaScript if it said it is idle (after a store of head or MODE).
  void WakeJs(TxRing* r, bool force = false) {
    if (r->word(rxring::JS_IDLE)->exchange(0, std::memory_order_seq_cst) == 1 || force) {
      r->word(rxring::WAKEUPS)->fetch_add(1, std::memory_order_relaxed);
      uv_async_send(&async_);
    }
  }

  // The receive thread. Parked while JavaScript reads (MODE INLINE or
  // HANDBACK); while it reads (THREAD): poll the device, read every packet
  // there is into the ring (publishing every 64 KiB and at the end of the
  // burst), wake JavaScript if idle. A full ring stops the reading (the
  // kernel's queue holds, then drops) until JavaScript moves the tail.
  void RxLoop(TxRing* r) {
    std::atomic<uint32_t>* head = r->word(rxring::HEAD);
    std::atomic<uint32_t>* tail = r->word(rxring::TAIL);
    std::atomic<uint32_t>* mode = r->word(rxring::MODE);
    const uint32_t cap = static_cast<uint32_t>(r->cap);
    const uint32_t mask = cap - 1;
    uint8_t* data = r->data();
    uint32_t h = head->load();
    uint32_t published = h;
    uint32_t lonely = 0;  // wake-ups in a row that carried at most 2 packets to an idle JavaScript
    struct pollfd fds[2];
    fds[0].fd = fd_;
    fds[0].events = POLLIN;
    fds[1].fd = rxStopFd_;
    fds[1].events = POLLIN;
    // Receive coalescing (gro.h): the run being merged is the last record,
    // unpublished (JavaScript must not see it change); its start is runH.
    const bool coalesce = coalesce_ && !vnet_;
    gro::Run run;
    gro::Seg seg;
    uint32_t runH = 0;
    uint32_t merged = 0;
    auto endRun = [&]() {
      if (run.segs == 0) return;
      uint8_t* rec = data + run.pos;
      gro::Finish(run, rec + 4);
      uint32_t word = run.len | RX_CSUM_OK | (run.segs > 1 ? RX_COALESCED : 0);
      std::memcpy(rec, &word, 4);
      run.segs = 0;
    };
    auto publishTo = [&](uint32_t to) {
      if (to == published) return;
      head->store(to, std::memory_order_seq_cst);
      published = to;
    };
    auto publish = [&]() {
      endRun();
      publishTo(h);
    };
    auto fail = [&](int err) {
      publish();
      r->word(rxring::FATAL)->store(static_cast<uint32_t>(err), std::memory_order_seq_cst);
      WakeJs(r, true);
    };
    while (!rxStop_.load(std::memory_order_acquire)) {
      uint32_t m = mode->load(std::memory_order_seq_cst);
      if (m == rxring::STOPPED) break;
      if (m != rxring::THREAD) {
        Futex(mode, FUTEX_WAIT, m, nullptr);
        lonely = 0;
        continue;
      }
      int pr = poll(fds, 2, -1);
      if (pr < 0) {
        if (errno == EINTR) continue;
        fail(errno);
        return;
      }
      if (fds[1].revents != 0) break;  // stop
      if (fds[0].revents & POLLNVAL) {
        fail(EBADF);
        return;
      }
      uint32_t n = 0;
      for (;;) {
        uint32_t pos = h & mask;
        uint32_t skip = cap - pos < rxring::MAX_RECORD ? cap - pos : 0;
        if ((h - tail->load(std::memory_order_acquire)) + skip + rxring::MAX_RECORD > cap) {
          // Full: hand JavaScript what there is and wait for room.
          publish();
          WakeJs(r);
          r->word(rxring::FULL)->fetch_add(1, std::memory_order_relaxed);
          std::atomic<uint32_t>* wait = r->word(rxring::ROOM_WAIT);
          while (!rxStop_.load(std::memory_order_acquire)) {
            uint32_t t = tail->load(std::memory_order_seq_cst);
            wait->store(1, std::memory_order_seq_cst);
            if (tail->load(std::memory_order_seq_cst) != t || (h - t) + skip + rxring::MAX_RECORD <= cap) break;
            struct timespec ts = {0, 50 * 1000 * 1000};  // belt and braces: recheck stop
            Futex(tail, FUTEX_WAIT, t, &ts);
            if ((h - tail->load(std::memory_order_seq_cst)) + skip + rxring::MAX_RECORD <= cap) break;
          }
          wait->store(0, std::memory_order_relaxed);
          if (rxStop_.load(std::memory_order_acquire)) break;
          continue;
        }
        if (skip != 0) {
          endRun();  // a run never wraps
          uint32_t wrap = ring::WRAP;
          std::memcpy(data + pos, &wrap, 4);
          h += skip;
          pos = 0;
        }
        ssize_t k = ::read(fd_, data + pos + 4, rxring::MAX_PACKET);
        if (k < 0) {
          int err = errno;
          if (err == EINTR) continue;
          if (err == EAGAIN) break;
          fail(err);  // the device went away (EBADFD), or an I/O error
          return;
        }
        if (k == 0) break;
        uint32_t len = static_cast<uint32_t>(k);
        uint32_t word = len;
        n++;
        if (!vnet_) {
          uint8_t* pkt = data + pos + 4;
          gro::Inspect(pkt, len, seg);
          if (seg.csumOk) word |= RX_CSUM_OK;
          if (run.segs != 0) {
            uint8_t* a = data + run.pos + 4;
            if (gro::Fits(run, a, pkt, seg)) {
              gro::Append(run, a, pkt + seg.l3 + seg.thl, seg);
              h = runH + ((4 + run.len + 7) & ~7u);
              merged++;
              goto read_done;
            }
            endRun();
          }
          if (coalesce && seg.data) {
            gro::Begin(run, pos, len, seg);
            runH = h;
          }
        }
        std::memcpy(data + pos, &word, 4);
        h += (4 + len + 7) & ~7u;
      read_done:
        if (h - published >= 64 * 1024) {
          // Records before an open run are final: hand them over, keep merging.
          uint32_t before = published;
          if (!run.open) publish();
          else publishTo(runH);
          if (published != before) WakeJs(r);
        }
        if (n >= 4096 || rxStop_.load(std::memory_order_relaxed)) break;
      }
      r->word(rxring::PACKETS)->fetch_add(n, std::memory_order_relaxed);
      if (merged != 0) r->word(rxring::COALESCED)->fetch_add(merged, std::memory_order_relaxed);
      merged = 0;
      publish();
      bool idle = r->word(rxring::JS_IDLE)->load(std::memory_order_seq_cst) == 1;
      WakeJs(r);
      // Request/response: each packet finds JavaScript idle and costs it a
      // wake-up it would get from uv_poll anyway, plus this thread's. Hand
      // reading back after idleWakes such wake-ups in a row.
      if (engage_ != 0 && idleWakes_ != 0) {
        lonely = idle && n <= 2 ? lonely + 1 : 0;
        if (lonely >= idleWakes_) {
          lonely = 0;
          r->word(rxring::HANDBACKS)->fetch_add(1, std::memory_order_relaxed);
          mode->store(rxring::HANDBACK, std::memory_order_seq_cst);
          WakeJs(r);
        }
      }
    }
    publish();
  }

  // Stop the receive thread and join it (what the ring holds is left there).
  void StopRxThread() {
    if (rx_ == nullptr || !rxThread_.joinable()) return;
    rxStop_.store(true, std::memory_order_seq_cst);
    uint64_t one = 1;
    ssize_t w = ::write(rxStopFd_, &one, sizeof one);
    (void)w;
    rx_->word(rxring::MODE)->store(rxring::STOPPED, std::memory_order_seq_cst);
    Futex(rx_->word(rxring::MODE), FUTEX_WAKE, 1, nullptr);
    Futex(rx_->word(rxring::TAIL), FUTEX_WAKE, 1, nullptr);
    rxThread_.join();
  }

  // Join the thread, close the async handle, drop the ring (JavaScript may still hold it).
  void StopRx() {
    if (rx_ == nullptr) return;
    StopRxThread();
    if (rxStopFd_ >= 0) {
      close(rxStopFd_);
      rxStopFd_ = -1;
    }
    rx_->Release();
    rx_ = nullptr;
    if (asyncOpen_) {
      asyncOpen_ = false;
      uv_close(reinterpret_cast<uv_handle_t*>(&async_), &TunDevice::OnAsyncClosed);
    }
  }

  static void OnAsyncClosed(uv_handle_t* handle) {
    auto* self = static_cast<TunDevice*>(handle->data);
    self->onRx_.Reset();
    self->Unref();
  }

  // Write the records in [t, h) in order, moving the tail after each;
  // returns the new tail, or stops (FATAL set) on a broken ring or a gone
  // device. Runs on the transmit thread, or on the JavaScript thread in
  // txInline() while the thread is held asleep (SLEEPING = 2): never both.
  bool WriteRecords(TxRing* r, uint32_t& t, uint32_t h) {
    std::atomic<uint32_t>* tail = r->word(ring::TAIL);
    const uint32_t cap = static_cast<uint32_t>(r->cap);
    const uint32_t mask = cap - 1;
    uint8_t* data = r->data();
    uint32_t packets = 0;
    bool ok = true;
    while (t != h) {
      uint32_t pos = t & mask;
      if (cap - pos < 8) {  // positions are 8-aligned: cannot happen unless JavaScript broke the format
        Fail(r, EPROTO);
        ok = false;
        break;
      }
      uint32_t len;
      std::memcpy(&len, data + pos, 4);
      if (len == ring::WRAP) {
        t += cap - pos;
        continue;
      }
      const bool csum = (len & TX_CSUM_NEEDED) != 0;
      const bool gso = (len & TX_GSO) != 0;
      len &= ~(TX_CSUM_NEEDED | TX_GSO);
      if (len > cap - pos - 4 || static_cast<uint32_t>(h - t) < 4 + len || (gso && len < 4)) {
        Fail(r, EPROTO);
        ok = false;
        break;
      }
      uint8_t* pkt = data + pos + 4;
      // One packet out; false when the device is gone (FATAL set).
      auto put = [&](const struct iovec* iov, int cnt) -> bool {
        ssize_t w;
        do w = ::writev(fd_, iov, cnt);
        while (w < 0 && errno == EINTR);
        if (w >= 0) {
          packets++;
          return true;
        }
        int err = errno;
        // The device is gone (detached, removed): stop. EIO (the link is
        // down) is a drop like any other: it may come up again.
        if (err == EBADFD || err == ENODEV || err == EBADF || err == ENXIO) {
          Fail(r, err);
          ok = false;
          return false;
        }
        // Refused: a full queue (EAGAIN/ENOBUFS), the link down (EIO) or a packet the kernel rejects (EINVAL): dropped.
        r->word(ring::DROPS)->fetch_add(1, std::memory_order_relaxed);
        r->word(ring::LAST_ERRNO)->store(static_cast<uint32_t>(err), std::memory_order_relaxed);
        return true;
      };
      int pieces = -1;
      if (gso && !vnet_) {
        uint32_t mss;
        std::memcpy(&mss, pkt, 4);
        pieces = gso::Segment(pkt + 4, len - 4, mss, [&](const struct iovec* iov) { return put(iov, 2); });
        if (pieces < 0) {  // not a super-segment it can cut: as it is, checksum filled
          gso::FillTcpChecksum(pkt + 4, len - 4);
          struct iovec one = {pkt + 4, len - 4};
          put(&one, 1);
        }
      } else {
        if (csum && !vnet_) CompleteTcpChecksum(pkt, len);
        struct iovec one = {pkt, len};
        put(&one, 1);
      }
      if (!ok) break;
      t += (4 + len + 7) & ~7u;
      tail->store(t, std::memory_order_seq_cst);
      uint32_t want = r->word(ring::WANT)->load(std::memory_order_seq_cst);
      if (want != 0 && cap - static_cast<uint32_t>(h - t) >= want) {
        r->word(ring::WANT)->store(0, std::memory_order_relaxed);
        Futex(tail, FUTEX_WAKE, 1, nullptr);
      }
    }
    r->word(ring::PACKETS)->fetch_add(packets, std::memory_order_relaxed);
    // Anyone waiting for space while we saw h: free space only grows, let them recheck.
    if (r->word(ring::WANT)->load(std::memory_order_seq_cst) != 0) {
      r->word(ring::WANT)->store(0, std::memory_order_relaxed);
      Futex(tail, FUTEX_WAKE, 1, nullptr);
    }
    return ok;
  }

  // txInline(): JavaScript holds the sleeping thread (it moved SLEEPING from
  // 1 to 2) and writes what is published itself, on its own thread: for a
  // packet or two the thread's wake-up would cost more than the write.
  Napi::Value TxInline(const Napi::CallbackInfo& info) {
    TxRing* r = tx_;
    if (r == nullptr || r->word(ring::SLEEPING)->load() != 2 || r->word(ring::FATAL)->load() != 0) return info.Env().Undefined();
    uint32_t t = r->word(ring::TAIL)->load(std::memory_order_seq_cst);
    uint32_t h = r->word(ring::HEAD)->load(std::memory_order_seq_cst);
    WriteRecords(r, t, h);
    return info.Env().Undefined();
  }

  // The transmit thread: write every published record, in order; sleep
  // (after spinning spinNs_) when there is none. SLEEPING: 0 awake, 1
  // asleep (JavaScript wakes it by moving 1 to 0 and kick()), 2 asleep and
  // held by JavaScript writing inline (it moves it back to 1). On stop it
  // writes what is queued, then returns.
  void TxLoop(TxRing* r) {
    std::atomic<uint32_t>* head = r->word(ring::HEAD);
    std::atomic<uint32_t>* tail = r->word(ring::TAIL);
    std::atomic<uint32_t>* sleeping = r->word(ring::SLEEPING);
    uint32_t t = tail->load();
    for (;;) {
      uint32_t h = head->load(std::memory_order_acquire);
      if (h == t) {
        if (txStop_.load(std::memory_order_acquire)) break;
        // Nothing queued: spin a little (JavaScript usually sends in bursts), then sleep.
        uint64_t until = spinNs_ > 0 ? NowNs() + spinNs_ : 0;
        unsigned n = 0;
        while (spinNs_ > 0 && (h = head->load(std::memory_order_acquire)) == t && !txStop_.load(std::memory_order_relaxed)) {
          CpuRelax();
          if ((++n & 63) == 0 && NowNs() >= until) break;
        }
        if (h != t) continue;
        sleeping->store(1, std::memory_order_seq_cst);
        bool slept = false;
        for (;;) {
          uint32_t v = sleeping->load(std::memory_order_seq_cst);
          if (v == 0) break;  // kicked (or stopped)
          t = tail->load(std::memory_order_seq_cst);
          h = head->load(std::memory_order_seq_cst);
          if (v == 1 && (h != t || txStop_.load(std::memory_order_seq_cst))) {
            // Work we saw ourselves: take the ring back, unless JavaScript just took it.
            if (sleeping->compare_exchange_strong(v, 0, std::memory_order_seq_cst)) break;
            continue;
          }
          Futex(sleeping, FUTEX_WAIT, v, nullptr);  // v = 1: idle; v = 2: JavaScript writes inline
          slept = true;
        }
        if (slept) r->word(ring::WAKEUPS)->fetch_add(1, std::memory_order_relaxed);
        t = tail->load(std::memory_order_seq_cst);  // JavaScript may have written some inline
        continue;
      }
      if (!WriteRecords(r, t, h)) return;
    }
  }

  void Fail(TxRing* r, int err) {
    r->word(ring::FATAL)->store(static_cast<uint32_t>(err), std::memory_order_seq_cst);
    Futex(r->word(ring::TAIL), FUTEX_WAKE, 1, nullptr);
  }

  // Stop the transmit thread (it writes what is queued first) and join it.
  void StopTx() {
    if (tx_ == nullptr) return;
    txStop_.store(true, std::memory_order_seq_cst);
    tx_->word(ring::SLEEPING)->store(0, std::memory_order_seq_cst);
    Futex(tx_->word(ring::SLEEPING), FUTEX_WAKE, 1, nullptr);
    if (txThread_.joinable()) txThread_.join();
    tx_->Release();
    tx_ = nullptr;
  }

  // busyPollStats(): [packets read while busy polling, empty reads]
  Napi::Value BusyPollStats(const Napi::CallbackInfo& info) {
    Napi::Array a = Napi::Array::New(info.Env(), 2);
    a.Set(0u, Napi::Number::New(info.Env(), busyPollHits_));
    a.Set(1u, Napi::Number::New(info.Env(), busyPollEmpty_));
    return a;
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
  //
  // Request/response traffic wakes us for one packet at a time, and the
  // read(2) that finds the queue empty (EAGAIN) was a third of the
  // system calls of each exchange. After a wake-up that found one packet
  // alone, the next reads one packet and stops without that probe: the
  // poll is level-triggered, so a packet left behind wakes us again at
  // once. At most kMaxLoneDrains such drains in a row; then a full one
  // (a burst that began after a lone packet costs a few extra loop turns,
  // never a packet).
  static constexpr uint32_t kMaxLoneDrains = 4;
  void Drain(int status) {
    size_t reads = DrainOnce(status);
    if (busyPollNs_ != 0 && status >= 0 && reads > 0) BusyPoll();
  }

  // Busy polling (start option busyPollUs, as SO_BUSY_POLL for a socket):
  // after a drain that found packets, keep reading for up to busyPollNs_
  // past the last packet instead of going back to sleep in epoll. A peer
  // on another CPU that answers within that time is read at once, without
  // the wake-up (an interprocessor interrupt and a schedule) between its
  // packet and our read. An empty read yields the CPU, so a peer on this
  // CPU runs in the meantime. It stops when JavaScript says it has work
  // queued for a later turn (the batch's return value), when the device
  // stops or the receive thread takes over, and after kBusyPollBudgetNs
  // in all, so that timers and other I/O get their turn.
  static constexpr uint64_t kBusyPollBudgetNs = 2000000;
  void BusyPoll() {
    const uint64_t start = MonoNs();
    uint64_t last = start;
    size_t reads = 1;
    for (;;) {
      if (!pollActive_ || fd_ < 0 || !spinOk_) return;
      const uint64_t now = MonoNs();
      if (reads > 0) last = now;
      if (now - last > busyPollNs_ || now - start > kBusyPollBudgetNs) return;
      if (reads == 0) {
        busyPollEmpty_++;
        sched_yield();
      } else {
        busyPollHits_ += reads;
      }
      reads = DrainOnce(0);
    }
  }
  static uint64_t MonoNs() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
  }

  size_t DrainOnce(int status) {
    Napi::HandleScope scope(env_);
    if (status < 0) {
      ReportError(std::string("poll: ") + uv_strerror(status), -status);
      return 0;
    }
    size_t count = 0;  // records handed over
    size_t reads = 0;  // packets read (a merged record holds several)
    size_t used = 0;
    uint32_t merged = 0;
    const size_t maxPacket = 65536 + 10;
    const bool lone = lastDrainLone_ && loneStreak_ < kMaxLoneDrains;
    const size_t limit = lone ? 1 : maxBatch_;
    // Receive coalescing (gro.h), as the receive thread does: the run being
    // merged is the last record; a packet that continues it is read right
    // behind it and its payload moved down onto the run's end.
    const bool coalesce = coalesce_ && !vnet_;
    gro::Run run;
    gro::Seg seg;
    size_t runIdx = 0;
    auto endRun = [&]() {
      if (run.segs == 0) return;
      gro::Finish(run, slab_ + run.pos);
      meta_[2 * runIdx + 1] = run.len | RX_CSUM_OK | (run.segs > 1 ? RX_COALESCED : 0);
      run.segs = 0;
    };
    while (reads < limit && used + maxPacket <= slabLen_) {
      ssize_t n = ::read(fd_, slab_ + used, maxPacket);
      if (n < 0) {
        int err = errno;
        if (err == EAGAIN || err == EINTR) break;
        // EBADFD / EIO: the device went away while running.
        endRun();
        if (count > 0) Deliver(count, merged);
        ReportError(ErrnoText("read", err), err);
        return 0;
      }
      if (n == 0) break;
      reads++;
      const uint32_t len = static_cast<uint32_t>(n);
      uint32_t word = len;
      if (!vnet_) {
        uint8_t* pkt = slab_ + used;
        gro::Inspect(pkt, len, seg);
        if (seg.csumOk) word |= RX_CSUM_OK;
        if (run.segs != 0) {
          uint8_t* a = slab_ + run.pos;
          if (gro::Fits(run, a, pkt, seg)) {
            gro::Append(run, a, pkt + seg.l3 + seg.thl, seg);
            used = run.pos + ((run.len + 7) & ~7u);
            merged++;
            continue;
          }
          endRun();
        }
        if (coalesce && seg.data) {
          gro::Begin(run, static_cast<uint32_t>(used), len, seg);
          runIdx = count;
        }
      }
      meta_[2 * count] = static_cast<uint32_t>(used);
      meta_[2 * count + 1] = word;
      used += static_cast<size_t>((len + 7) & ~7u);
      count++;
    }
    endRun();
    if (lone) {
      loneStreak_++;
    } else {
      loneStreak_ = 0;
      lastDrainLone_ = reads == 1;  // one packet, then EAGAIN (or a full batch of one: never)
    }
    // A backlog: the receive thread reads from now on (what follows lands in its ring, after this batch).
    if (rx_ != nullptr && engage_ != 0 && reads >= engage_) Engage();
    if (count > 0) Deliver(count, merged);
    return reads;
  }

  // onBatch(records, merged): merged = segments folded into the record before them.
  // It returns false when the stack has input queued for a later turn: busy polling stops then.
  void Deliver(size_t count, uint32_t merged) {
    Napi::Object recv = Value();
    Napi::Value r = onBatch_.MakeCallback(recv, {Napi::Number::New(env_, static_cast<double>(count)), Napi::Number::New(env_, merged)});
    spinOk_ = !(r.IsBoolean() && !r.As<Napi::Boolean>().Value());
  }

  void ReportError(const std::string& message, int err) {
    StopPoll();
    Napi::Error e = Napi::Error::New(env_, message);
    e.Set("errno", Napi::Number::New(env_, err));
    if (!onError_.IsEmpty()) onError_.MakeCallback(Value(), {e.Value()});
  }

  void StopPoll() {
    StopRx();
    if (!polling_) return;
    polling_ = false;
    pollActive_ = false;
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
  // Drain: the last full drain found one packet alone; lone drains since then.
  bool lastDrainLone_ = false;
  // Busy polling after a drain that read something (0 = off); what it read and its empty reads.
  uint64_t busyPollNs_ = 0;
  bool spinOk_ = true;
  double busyPollHits_ = 0;
  double busyPollEmpty_ = 0;
  uint32_t loneStreak_ = 0;
  TxRing* tx_ = nullptr;
  std::thread txThread_;
  std::atomic<bool> txStop_{false};
  uint64_t spinNs_ = 0;
  bool pollActive_ = false;  // uv_poll started (off while the receive thread reads)
  bool hooked_ = false;
  TxRing* rx_ = nullptr;  // the receive ring (TxRing's block, the rxring layout)
  std::thread rxThread_;
  std::atomic<bool> rxStop_{false};
  int rxStopFd_ = -1;
  uv_async_t async_;
  bool asyncOpen_ = false;
  Napi::FunctionReference onRx_;
  uint32_t engage_ = 8;
  uint32_t idleWakes_ = 16;
  bool coalesce_ = true;  // reads merge TCP runs (gro.h), on either thread; plain devices only
};

Napi::Object InitAll(Napi::Env env, Napi::Object exports) { return TunDevice::Init(env, exports); }

}  // namespace

NODE_API_MODULE(tsip_tun, InitAll)
