#!/usr/bin/env python3
"""ALE bridge server for Dqn.Fun: hosts N Arcade Learning Environment instances behind a ZeroMQ REP
socket and speaks the binary protocol of PROTOCOL.md (version 3) to Dqn.Fun.Atari.AleBridge.

Needs: pip install ale-py pyzmq numpy

    python3 ale_bridge.py --endpoint tcp://127.0.0.1:* [--parent-pid PID] [--watch-stdin]
    python3 ale_bridge.py --endpoint tcp://127.0.0.1:5555

Prints "READY <endpoint>" once bound: the endpoint it bound, with the port the OS chose for "*" (what
AleBridge.Launch passes, so the port is never raced for). Dqn.Fun's client (NetMQ) speaks tcp:// only; an
ipc:// path also binds, for pyzmq clients. Exits after CLOSE, when --parent-pid no longer exists, or
with --watch-stdin when stdin reaches EOF (the client that started it closed the pipe or died). Every request is validated; a bad one gets
an ERROR reply and the server keeps running. No pickle, no eval: fixed little-endian layouts only.
"""

import argparse
import mmap
import os
import re
import select
import struct
import sys
import tempfile
import threading
import time

import numpy as np
import zmq

VERSION = 3
MAGIC = 0x42454C41  # b"ALEB" read as a little-endian u32
MAX_ENVS = 256
MAX_REPEAT = 64
MAX_NAME_BYTES = 4096
MAX_REQUEST_BYTES = 2 * 1024 * 1024

HELLO, CREATE, RESET, STEP, CLOSE = 1, 2, 3, 4, 5
REPLY_BIT, ERROR = 0x80, 0xFF
NO_ENV = 0xFFFFFFFF

HEADER = struct.Struct("<IHHI")  # magic, version, kind, seq: 12 bytes
COUNT = struct.Struct("<II")  # count, reserved/repeat: 8 bytes
ENV_SPEC = struct.Struct("<ifiiIBBH")  # 24 bytes
ENV_INFO = struct.Struct("<IIIi")  # 16 bytes
ENV_STEP = struct.Struct("<iiIIIBBH")  # 24 bytes
STEP_OP = struct.Struct("<iHBB")  # action, repeat, flags, reserved: 8 bytes
STEP_RESET = 1  # STEP op flag: reset_game() before the repeat
ERROR_BODY = struct.Struct("<II")
GAME_ID = re.compile(r"^[a-z0-9_]+$")
SHARED_SCREENS = 1  # CREATE flag: the screens go to a shared memory file, not into the replies

MALFORMED, VERSION_ERR, UNKNOWN_KIND, OUT_OF_RANGE, STATE, ALE, INTERNAL = 1, 2, 3, 4, 5, 6, 7

assert HEADER.size == 12 and ENV_SPEC.size == 24 and ENV_INFO.size == 16 and ENV_STEP.size == 24 and STEP_OP.size == 8


class Refused(Exception):
    """A request the server refuses: an ERROR reply with this code, env (-1: none) and message."""

    def __init__(self, code, message, env=-1):
        super().__init__(message)
        self.code, self.env, self.message = code, env, message


def malformed(message):
    return Refused(MALFORMED, message)


def header(kind, seq):
    return HEADER.pack(MAGIC, VERSION, kind, seq)


def error_reply(seq, code, env, message):
    env_field = NO_ENV if env < 0 else env
    return [header(ERROR, seq), ERROR_BODY.pack(code, env_field), message.encode("utf-8", "replace")]


def counted(name, body, record_size):
    """Reads the count of a body made of 8 bytes + count records; checks its exact size."""
    if len(body) < COUNT.size:
        raise malformed(f"{name}: body is {len(body)} bytes, expected at least {COUNT.size}")
    n, second = COUNT.unpack_from(body, 0)
    if not 1 <= n <= MAX_ENVS:
        raise Refused(OUT_OF_RANGE, f"{name}: count {n} is outside 1..{MAX_ENVS}")
    expected = COUNT.size + n * record_size
    if len(body) != expected:
        raise malformed(f"{name}: body is {len(body)} bytes, expected 8 + {n} x {record_size} = {expected}")
    return n, second


def expect_frames(name, frames, count):
    if len(frames) != count:
        raise malformed(f"{name}: {len(frames)} frames, expected {count}")


class Env:
    """One ALEInterface; its two screens (second-to-last, last) are views into the server's screen buffer."""

    def __init__(self, index, spec, name):
        try:
            import ale_py  # imported here so that the protocol checks work without it
            import ale_py.roms
        except ImportError as e:
            raise Refused(ALE, f"ale_py is not importable ({e}): pip install ale-py", index)

        seed, rap, mode, difficulty, max_frames, action_set, game_kind, _ = spec
        self.index = index
        ale = ale_py.ALEInterface()
        try:
            ale.setLoggerMode(ale_py.LoggerMode.Error)
        except AttributeError:
            pass
        ale.setInt("random_seed", seed)
        ale.setFloat("repeat_action_probability", float(rap))
        ale.setInt("frame_skip", 1)  # the repeat is done here, one act per frame
        ale.setBool("color_averaging", False)
        ale.setInt("max_num_frames_per_episode", max_frames)
        if game_kind == 0:
            try:
                rom = ale_py.roms.get_rom_path(name)
            except Exception as e:  # unknown id: ale_py raises (the type varies across versions)
                raise Refused(ALE, f"unknown game id '{name}': {e}", index)
            if rom is None:
                raise Refused(ALE, f"unknown game id '{name}'", index)
        else:
            rom = name
            if not os.path.isfile(rom):
                raise Refused(ALE, f"ROM file '{rom}' does not exist", index)
        try:
            ale.loadROM(str(rom))
        except Exception as e:
            raise Refused(ALE, f"loadROM('{rom}') failed: {e}", index)
        if mode != -1:
            modes = [int(m) for m in ale.getAvailableModes()]
            if mode not in modes:
                raise Refused(OUT_OF_RANGE, f"mode {mode} is not one of {modes}", index)
            ale.setMode(mode)
        if difficulty != -1:
            diffs = [int(d) for d in ale.getAvailableDifficulties()]
            if difficulty not in diffs:
                raise Refused(OUT_OF_RANGE, f"difficulty {difficulty} is not one of {diffs}", index)
            ale.setDifficulty(difficulty)
        actions = ale.getLegalActionSet() if action_set == 1 else ale.getMinimalActionSet()
        self.ale = ale
        self.actions = list(actions)
        self.action_ids = [action_id(a) for a in actions]
        self.height, self.width = (int(d) for d in ale.getScreenDims())  # (height, width)
        self.screen_bytes = self.height * self.width * 3
        self.bind(np.zeros((2, self.height, self.width, 3), np.uint8))
        try:  # getScreenRGB(buffer) fills an (H, W, 3) uint8 array in place, without allocating
            ale.getScreenRGB(self.last)
            self.screen_into = ale.getScreenRGB
        except TypeError:  # a binding without the in-place overload
            self.screen_into = self.copy_screen
        self.needs_reset = True

    def bind(self, pair):
        """Makes the C-contiguous (2, H, W, 3) uint8 array `pair` hold this env's second-to-last and last screen."""
        self.pair, self.prev, self.last = pair, pair[0], pair[1]

    def copy_screen(self, buf):
        buf[...] = self.ale.getScreenRGB()

    def record(self, reward, frames):
        ale = self.ale
        try:
            terminal = bool(ale.game_over(with_truncation=False))
            truncated = bool(ale.game_truncated())
        except TypeError:  # an ale_py without the truncation API
            terminal, truncated = bool(ale.game_over()), False
        return ENV_STEP.pack(
            int(reward), int(ale.lives()), frames, int(ale.getEpisodeFrameNumber()), int(ale.getFrameNumber()),
            1 if terminal else 0, 1 if truncated else 0, 0)

    def reset(self):
        self.ale.reset_game()
        self.screen_into(self.last)
        self.prev[...] = self.last
        self.needs_reset = False
        return self.record(0, 0)


def action_id(a):
    try:
        return int(a)
    except TypeError:
        return int(a.value)


class Server:
    def __init__(self):
        self.envs = []
        self.screens = None
        self.shared = False  # whether self.screens maps a shared file (SHARED_SCREENS)
        self.shared_path = None  # that file, which the client removes once it has mapped it

    def drop_shared(self):
        """Forgets the shared screen file (removing it if the client has not); the mapping goes with its views."""
        if self.shared_path is not None:
            try:
                os.unlink(self.shared_path)
            except OSError:
                pass
        self.shared_path = None

    def screen_buffer(self, size, shared):
        """A zeroed uint8 buffer of `size` bytes: a numpy array, or (shared) a mapping of a new file in
        /dev/shm (else the temp folder) whose path the CREATE reply tells the client."""
        self.drop_shared()
        self.shared = shared
        if not shared:
            return np.zeros(size, np.uint8)
        folder = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
        fd, path = tempfile.mkstemp(prefix=f"dqnfun-ale-{os.getpid()}-", suffix=".screens", dir=folder)
        try:
            os.ftruncate(fd, size)
            mapping = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self.shared_path = path
        return np.frombuffer(mapping, np.uint8)

    # ---- requests ---------------------------------------------------------------------------------
    def hello(self, frames):
        expect_frames("HELLO", frames, 2)
        body = frames[1]
        if len(body) != 8:
            raise malformed(f"HELLO: body is {len(body)} bytes, expected 8")
        lo, hi, reserved = struct.unpack("<HHI", body)
        if reserved != 0:
            raise malformed("HELLO: reserved bytes 4..7 must be 0")
        if lo > hi:
            raise Refused(OUT_OF_RANGE, f"HELLO: min version {lo} > max version {hi}")
        if not lo <= VERSION <= hi:
            raise Refused(VERSION_ERR, f"no common version in {lo}..{hi}; this server speaks {VERSION}")
        try:
            import ale_py

            name = f"ale_py {getattr(ale_py, '__version__', '?')}, pyzmq {zmq.__version__}, numpy {np.__version__}"
        except ImportError as e:
            name = f"no ale_py ({e})"
        body = struct.pack("<HHII", VERSION, 0, MAX_ENVS, MAX_REPEAT)
        return [body, name.encode()]

    def create(self, frames):
        if len(frames) < 2:
            raise malformed("CREATE: missing body frame")
        body = frames[1]
        n, flags = counted("CREATE", body, ENV_SPEC.size)
        if flags & ~SHARED_SCREENS:
            raise malformed(f"CREATE: flags 0x{flags:08X} has bits other than 0x{SHARED_SCREENS:X} (shared screens) set")
        expect_frames("CREATE", frames, 2 + n)
        specs, names = [], []
        for i in range(n):
            spec = ENV_SPEC.unpack_from(body, COUNT.size + i * ENV_SPEC.size)
            seed, rap, mode, difficulty, max_frames, action_set, game_kind, reserved = spec

            def oob(msg, i=i):
                return Refused(OUT_OF_RANGE, f"CREATE env {i}: {msg}", i)

            if seed < 0:
                raise oob(f"seed {seed} is negative")
            if not np.isfinite(rap) or not 0.0 <= rap <= 1.0:
                raise oob(f"repeat_action_probability {rap} is outside [0, 1]")
            if mode < -1:
                raise oob(f"mode {mode} is below -1 (-1 = default)")
            if difficulty < -1:
                raise oob(f"difficulty {difficulty} is below -1 (-1 = default)")
            if max_frames > 2**31 - 1:
                raise oob(f"max frames {max_frames} exceeds {2**31 - 1}")
            if action_set > 1:
                raise oob(f"action set {action_set} is not 0 (minimal) or 1 (full)")
            if game_kind > 1:
                raise oob(f"game kind {game_kind} is not 0 (game id) or 1 (ROM path)")
            if reserved != 0:
                raise malformed(f"CREATE env {i}: reserved bytes must be 0")
            raw = frames[2 + i]
            if not 1 <= len(raw) <= MAX_NAME_BYTES:
                raise oob(f"game name is {len(raw)} bytes, expected 1..{MAX_NAME_BYTES}")
            try:
                name = raw.decode("utf-8", "strict")
            except UnicodeDecodeError:
                raise malformed(f"CREATE env {i}: game name is not valid UTF-8")
            if "\0" in name:
                raise malformed(f"CREATE env {i}: game name contains NUL")
            if game_kind == 0 and not GAME_ID.match(name):
                raise oob(f"game id '{name}' is not [a-z0-9_]+ (send a ROM path with game kind 1)")
            specs.append(spec)
            names.append(name)
        self.envs = []  # CREATE replaces earlier envs; on failure none are left
        self.screens = None
        envs = [Env(i, s, name) for i, (s, name) in enumerate(zip(specs, names))]
        # One buffer holds every env's two screens in reply order: a STEP reply sends it as is (no copy),
        # or with SHARED_SCREENS it is a file the client maps, and the replies carry no screens at all.
        self.screens = self.screen_buffer(sum(2 * e.screen_bytes for e in envs), bool(flags & SHARED_SCREENS))
        offset = 0
        for e in envs:
            e.bind(self.screens[offset:offset + 2 * e.screen_bytes].reshape(2, e.height, e.width, 3))
            offset += 2 * e.screen_bytes
        self.envs = envs
        shared = self.shared
        body = bytearray(COUNT.pack(n, SHARED_SCREENS if shared else 0))
        action_frames = []
        for e in envs:
            body += ENV_INFO.pack(len(e.action_ids), e.height, e.width, int(e.ale.lives()))
            action_frames.append(struct.pack(f"<{len(e.action_ids)}i", *e.action_ids))
        return [bytes(body)] + action_frames + ([self.shared_path.encode()] if shared else [])

    def reset(self, frames):
        expect_frames("RESET", frames, 2)
        body = frames[1]
        k, reserved = counted("RESET", body, 4)
        if reserved != 0:
            raise malformed("RESET: reserved bytes 4..7 must be 0")
        if not self.envs:
            raise Refused(STATE, "RESET before CREATE")
        idx = struct.unpack_from(f"<{k}I", body, COUNT.size)
        if len(set(idx)) != k:
            raise Refused(OUT_OF_RANGE, "RESET: env indices repeat")
        for e in idx:
            if e >= len(self.envs):
                raise Refused(OUT_OF_RANGE, f"RESET: env {e} does not exist ({len(self.envs)} envs)", e if e < NO_ENV else -1)
        records = bytearray(COUNT.pack(k, 0))
        for e in idx:
            records += self.envs[e].reset()
        if self.shared:
            return [bytes(records), b""]  # the screens are in the shared file
        if list(idx) == list(range(len(self.envs))):
            return [bytes(records), self.screens]
        return [bytes(records), b"".join(self.envs[e].pair.data for e in idx)]

    def step(self, frames):
        expect_frames("STEP", frames, 2)
        body = frames[1]
        n, reserved = counted("STEP", body, STEP_OP.size)
        if reserved != 0:
            raise malformed("STEP: reserved bytes 4..7 must be 0")
        ops = list(STEP_OP.iter_unpack(memoryview(body)[COUNT.size:]))
        for i, (a, repeat, flags, res) in enumerate(ops):
            if flags & ~STEP_RESET:
                raise malformed(f"STEP env {i}: flags 0x{flags:02X} has bits other than 0x{STEP_RESET:X} (reset) set")
            if res != 0:
                raise malformed(f"STEP env {i}: reserved byte 7 must be 0")
            if repeat > MAX_REPEAT:
                raise Refused(OUT_OF_RANGE, f"STEP env {i}: repeat {repeat} is outside 0..{MAX_REPEAT}", i)
        if not self.envs:
            raise Refused(STATE, "STEP before CREATE")
        if n != len(self.envs):
            raise Refused(OUT_OF_RANGE, f"STEP gives {n} ops for {len(self.envs)} envs")
        for i, ((a, repeat, flags, _), env) in enumerate(zip(ops, self.envs)):
            if not 0 <= a < len(env.actions):
                raise Refused(OUT_OF_RANGE, f"action {a} is outside 0..{len(env.actions) - 1}", i)
            if env.needs_reset and repeat > 0 and not flags & STEP_RESET:
                raise Refused(STATE, "the game is over (or was never reset); RESET it first", i)
        records = bytearray(COUNT.pack(n, 0))
        for (a, repeat, flags, _), env in zip(ops, self.envs):
            if flags & STEP_RESET:
                env.reset()
            records += step_env(env, a, repeat) if repeat > 0 else env.record(0, 0)
        if self.shared:
            return [bytes(records), b""]  # the screens are in the shared file
        return [bytes(records), self.screens]  # sent without a copy (send_multipart copy=False)

    def handle(self, frames):
        """Returns (reply frames, quit)."""
        seq = 0
        try:
            if not frames:
                raise malformed("empty message")
            h = frames[0]
            if len(h) != HEADER.size:
                raise malformed(f"header frame is {len(h)} bytes, expected {HEADER.size}")
            magic, version, kind, seq = HEADER.unpack(h)
            if magic != MAGIC:
                raise malformed(f"bad magic 0x{magic:08X}, expected 0x{MAGIC:08X} (\"ALEB\")")
            if version != VERSION:
                raise Refused(VERSION_ERR, f"protocol version {version} is not supported; this side speaks version {VERSION}")
            if kind == CLOSE:
                expect_frames("CLOSE", frames, 1)
                return [header(CLOSE | REPLY_BIT, seq)], True
            handler = {HELLO: self.hello, CREATE: self.create, RESET: self.reset, STEP: self.step}.get(kind)
            if handler is None:
                raise Refused(UNKNOWN_KIND, f"unknown request kind {kind}")
            return [header(kind | REPLY_BIT, seq)] + handler(frames), False
        except Refused as r:
            return error_reply(seq, r.code, r.env, r.message), False
        except Exception as e:  # never crash on a request
            return error_reply(seq, INTERNAL, -1, f"{type(e).__name__}: {e}"), False


def step_env(env, action, repeat):
    """Holds env.actions[action] for up to `repeat` frames (fewer when the game ends) and fills env.prev and
    env.last (PROTOCOL.md, OBSERVATION): the screens are read only after the final two frames of the step,
    as Gymnasium's and SB3's frame skipping do, since reading one costs about as much as emulating a frame."""
    ale = env.ale
    a = env.actions[action]
    prev, last = env.prev, env.last
    if repeat == 1:
        prev[...] = last  # the previous step's (or the reset's) last screen
    reward = 0
    frames = 0
    over = False
    while frames < repeat:
        reward += ale.act(a)
        frames += 1
        over = ale.game_over()  # with truncation (ale_py >= 0.7 counts the frame limit)
        if over or frames == repeat:
            env.screen_into(last)
            break
        if frames == repeat - 1:
            env.screen_into(prev)
    if frames < repeat:
        prev[...] = last  # the game ended early: the frame before the last was not read
    if over:
        env.needs_reset = True
    return env.record(reward, frames)


def parent_watch(parent_pid, watch_stdin, stop):
    """Sets `stop` when the parent process is gone, or (watch_stdin) when stdin reaches EOF."""
    while not stop.is_set():
        if parent_pid and not pid_alive(parent_pid):
            stop.set()
            return
        if not watch_stdin:
            time.sleep(0.5)
            continue
        try:
            r, _, _ = select.select([sys.stdin], [], [], 0.5)
            if r and not sys.stdin.buffer.read1(4096):
                stop.set()
                return
        except (ValueError, OSError):
            time.sleep(0.5)  # stdin closed or not selectable: rely on the parent pid


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def local_only(endpoint):
    if endpoint.startswith("ipc://"):
        return True
    m = re.match(r"^tcp://(127\.0\.0\.1|localhost|\[::1\]):(\d+|\*)$", endpoint)
    return m is not None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", default="tcp://127.0.0.1:*",
                   help="ZeroMQ endpoint to bind: tcp://127.0.0.1:PORT, or PORT * for one the OS chooses (the default; "
                        "READY reports it); an ipc:// path serves pyzmq clients only")
    p.add_argument("--parent-pid", type=int, default=0, help="exit when this process is gone")
    p.add_argument("--watch-stdin", action="store_true", help="exit when stdin reaches EOF (the client that started the server closed it)")
    p.add_argument("--allow-remote", action="store_true", help="allow binding a non-loopback TCP address")
    args = p.parse_args(argv)
    if not args.allow_remote and not local_only(args.endpoint):
        print(f"refusing to bind {args.endpoint}: not a loopback address (127.0.0.1, localhost, [::1]) or an ipc:// path "
              "(use --allow-remote)", file=sys.stderr)
        return 2
    ctx = zmq.Context(io_threads=1)
    sock = ctx.socket(zmq.REP)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, MAX_REQUEST_BYTES)
    sock.bind(args.endpoint)
    bound = sock.getsockopt_string(zmq.LAST_ENDPOINT)
    print(f"READY {bound}", flush=True)
    stop = threading.Event()
    threading.Thread(target=parent_watch, args=(args.parent_pid, args.watch_stdin, stop), daemon=True).start()
    server = Server()
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    try:
        while not stop.is_set():
            if not poller.poll(200):
                continue
            frames = sock.recv_multipart(copy=True)
            reply, quit_ = server.handle(frames)
            sock.send_multipart(reply, copy=False)
            if quit_:
                break
    except KeyboardInterrupt:
        pass
    finally:
        server.drop_shared()
        sock.close(0)
        ctx.term()
        if bound.startswith("ipc://"):
            try:
                os.unlink(bound[len("ipc://"):])
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
