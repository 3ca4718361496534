#!/usr/bin/env python3
"""Host side of scenario capture_ustack: the exact user chain of every thread.

For each program the scenario ran (tests/programs, see expected.txt) and each
of its threads, the chain that `vmon-analyze --csv` gives for the thread's task
sample, from root to leaf, must be the expected one, frame for frame:

  * The expected chains are written below (SPEC) from the programs' sources,
    and every step of them is proved against the binaries with objdump before
    vmon's output is looked at: each frame's function contains a call to the
    next one (direct, through the PLT/GOT, or indirect where the source calls
    through a pointer), or a call to a function that tail-jumps to it (`<`),
    and the leaf of a blocked thread contains a syscall instruction. A step
    that objdump does not show is a failure of the expectation, reported as
    such (so a changed glibc or compiler cannot make the test pass vacuously).
  * A frame of vmon's output matches a function when it is one of the
    function's names (any alias at its address, demangled, hashes and spaces
    ignored) or, for functions without a symbol in the file (glibc's and
    libstdc++'s internals), MODULE+0xOFFSET with the offset inside the
    function (from the debug file's symbols or the .eh_frame FDE).
  * Mode "present": the binaries the scenario copied are given with
    --debug-dir, the host's libraries (and debug files) are where they are.
    Mode "absent": vmon-analyze runs in a mount namespace where
    /usr/lib/x86_64-linux-gnu and /usr/lib/debug are empty and no debug dir
    is given, so every name comes from the capture's embedded symbol tables;
    there a frame may only carry a name the file's own .symtab/.dynsym has.

Inlined frames (`_[i]`, from DWARF of the host's debug files) are shown but
not compared; kernel frames (`_[k]`) end the user part of a stack.

usage: ustack_check.py OUTDIR/capture_ustack ANALYZER
Prints PASS/FAIL lines and a closing "N passed, M failed".
"""
import csv
import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile

LIBDIR = "/usr/lib/x86_64-linux-gnu"

# Root first. "mod:sym" is reached by a direct call from the frame before it,
# "*mod:sym" by an indirect call, "X via mod:sym" through a function that
# the frame before calls (indirectly with "*mod:sym") and that tail-jumps
# to X (indirectly with "*X"). mod: prog (the program), or a library's soname prefix
# (libc, libstdc++). Names are symbols, demangled; "@thread_routine" is
# libstdc++'s execute_native_thread_routine, which has no symbol (found as
# the function std::thread::_M_start_thread hands to pthread_create).
C_MAIN = ["prog:_start", "libc:__libc_start_main", "libc:__libc_start_call_main", "*prog:main"]
THREAD = ["libc:__clone3", "*libc:start_thread"]
NANOSLEEP = ["libc:__nanosleep", "libc:__clock_nanosleep"]
COND_WAIT = ["libc:___pthread_cond_wait",
             "libc:__futex_abstimed_wait_common via libc:__futex_abstimed_wait_cancelable64"]
RS_THREAD = THREAD + ["*prog:std::sys::thread::unix::Thread::new::thread_start",
                      "*prog:core::ops::function::FnOnce::call_once{{vtable.shim}}",
                      "prog:std::sys::backtrace::__rust_begin_short_backtrace"]
RS_SLEEP = ["prog:std::thread::functions::sleep", "libc:__clock_nanosleep"]

SPEC = {
    "ustack_fp": {
        "ustack_fp": C_MAIN + ["prog:fp_main_l1", "prog:fp_main_l2", "libc:pause"],
        "fp_sleep": THREAD + ["*prog:fp_sleep_entry", "prog:fp_sleep_l1", "prog:fp_sleep_l2",
                              "prog:fp_sleep_l3"] + NANOSLEEP,
        "fp_pipe": THREAD + ["*prog:fp_pipe_entry", "prog:fp_pipe_l1", "prog:fp_pipe_l2",
                             "prog:fp_pipe_l3", "libc:read"],
        "fp_cond": THREAD + ["*prog:fp_cond_entry", "prog:fp_cond_l1", "prog:fp_cond_l2",
                             "prog:fp_cond_l3"] + COND_WAIT,
        "fp_mutex": THREAD + ["*prog:fp_mutex_entry", "prog:fp_mutex_l1", "prog:fp_mutex_l2",
                              "prog:fp_mutex_l3", "libc:___pthread_mutex_lock",
                              "libc:__lll_lock_wait"],
        "fp_epoll": THREAD + ["*prog:fp_epoll_entry", "prog:fp_epoll_l1", "prog:fp_epoll_l2",
                              "prog:fp_epoll_l3", "libc:epoll_wait"],
    },
    "ustack_nofp": {
        "ustack_nofp": C_MAIN + ["prog:nofp_main_l1", "prog:nofp_main_l2", "libc:pause"],
        "nofp_sleep": THREAD + ["*prog:nofp_sleep_entry", "prog:nofp_sleep_l1",
                                "prog:nofp_sleep_l2", "prog:nofp_sleep_l3", "prog:nofp_sleep_l4",
                                "prog:nofp_leaf_sleep"] + NANOSLEEP,
        "nofp_spin": THREAD + ["*prog:nofp_spin_entry", "prog:nofp_spin_l1", "prog:nofp_spin_l2",
                               "prog:nofp_spin_l3", "prog:nofp_leaf_spin"],
    },
    "ustack_cxx": {
        "ustack_cxx": C_MAIN + ["prog:cxx_main_wait()"] + NANOSLEEP,
        # std::thread's _State_impl::_M_run (virtual) tail-jumps to the member
        # function; condition_variable::wait tail-jumps to pthread_cond_wait.
        "cxx_worker": THREAD + [
            "*libstdc++:@thread_routine",
            "*prog:ThreadPool<Job>::worker_loop(unsigned int) via *prog:std::thread::_State_impl<std::thread::_Invoker<std::tuple<void (ThreadPool<Job>::*)(unsigned int), ThreadPool<Job>*, unsigned int> > >::_M_run()",
            "libc:___pthread_cond_wait via libstdc++:std::condition_variable::wait(std::unique_lock<std::mutex>&)",
            COND_WAIT[1]],
    },
    "ustack_rs": {
        "ustack_rs": C_MAIN + ["prog:std::rt::lang_start_internal",
                               "*prog:std::rt::lang_start::{{closure}}",
                               "prog:std::sys::backtrace::__rust_begin_short_backtrace",
                               "*prog:ustack_rs::main", "prog:ustack_rs::rs_main_l1",
                               "prog:ustack_rs::rs_main_wait"] + RS_SLEEP,
        "rs_sleep": RS_THREAD + ["*prog:ustack_rs::rs_sleep_l1", "prog:ustack_rs::rs_sleep_l2",
                                 "prog:ustack_rs::rs_sleep_l3"] + RS_SLEEP,
        "rs_lock": RS_THREAD + ["*prog:ustack_rs::rs_lock_l1", "prog:ustack_rs::rs_lock_l2",
                                "prog:ustack_rs::rs_lock_l3",
                                "prog:std::sys::sync::mutex::futex::Mutex::lock_contended",
                                "libc:syscall"],
        "rs_spin": RS_THREAD + ["*prog:ustack_rs::rs_spin_l1", "prog:ustack_rs::rs_spin_l2",
                                "prog:ustack_rs::rs_spin_leaf"],
    },
    # Go (static, frame pointers, no .eh_frame for Go code): the goroutine
    # pinned to its thread, blocked in read(2). runtime.goexit is not a
    # caller: it is the return address newproc1 plants under every goroutine
    # ("=": no call to prove). syscall.Read is inlined into main.goReadL3.
    "ustack_go": {
        # the main thread, its goroutine locked to it (init) and asleep: parked
        # by the scheduler. runtime.mcall switches to the g0 stack (it writes
        # SP, SPWRITE), so it is where Go's own traceback stops
        # (runtime/traceback.go): what lies beyond it on g0 is stale.
        "ustack_go": ["prog:runtime.mcall", "*prog:runtime.park_m", "prog:runtime.schedule",
                      "prog:runtime.stoplockedm", "prog:runtime.mPark", "prog:runtime.notesleep",
                      "prog:runtime.futexsleep", "prog:runtime.futex.abi0"],
        "go_read": ["prog:runtime.goexit", "=prog:main.main.func1", "prog:main.goReadL1",
                    "prog:main.goReadL2", "prog:main.goReadL3", "prog:syscall.read",
                    "prog:syscall.Syscall", "prog:syscall.RawSyscall6",
                    "prog:runtime/internal/syscall.Syscall6"],
    },
}
# Go's other runtime threads are in states the program does not choose
# (sysmon, idle Ms, the netpoller), so only where their chains end is
# asserted: at a function the runtime treats as the top of a stack (TOPFRAME
# in runtime/asm_amd64.s: rt0_go, mstart, goexit; mcall, an SPWRITE function
# where runtime/traceback.go stops), or at runtime.clone, which calls mstart
# in a new thread; and every frame must be named.
GO_ROOTS = {"runtime.rt0_go", "runtime.mstart", "runtime.goexit", "runtime.mcall", "runtime.clone"}
# Threads that spin in user code: their leaf has no syscall.
SPINNERS = {"nofp_spin", "rs_spin"}


def split_mod(fr):
    m = re.match(r"(prog|libc|libstdc\+\+):(.*)$", fr)
    return (m.group(1), m.group(2)) if m else ("prog", fr)


def run(*cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def norm(name):
    """A name as compared: demangled, no Rust hash or crate disambiguator, no spaces."""
    name = name.split("@")[0] if not name.startswith("@") else name
    name = re.sub(r"\[[0-9a-f]+\]", "", name)
    name = re.sub(r"::h[0-9a-f]{16}$", "", name)
    name = re.sub(r"\.abi0$", "", name)  # Go's assembly functions, as DWARF names them
    # v0 Rust puts impl paths in <>: "<std::sys::thread::unix::Thread>::new" -> "std::sys::..."
    name = re.sub(r"^<([^<>]*)>::", r"\1::", name)
    return re.sub(r"\s+", "", name)


class Elf:
    """Function symbols, PLT names, FDEs and disassembly of one ELF file."""

    def __init__(self, path, debug=None):
        self.path = path
        self.base = os.path.basename(path)
        # (start, end) -> set of raw names; own = from the file itself (what the
        # capture embeds), debug = from its debug file too.
        self.own, self.all = {}, {}
        for p, own in ((path, True), (debug, False)):
            if not p:
                continue
            for line in run("readelf", "-sW", "--dyn-syms", "--syms", p).splitlines():
                f = line.split()
                if len(f) >= 8 and f[3] == "FUNC" and f[6] != "UND":
                    start, size = int(f[1], 16), int(f[2])
                    key = (start, start + max(size, 1))
                    name = f[7].split("@")[0]
                    self.all.setdefault(key, set()).add(name)
                    if own:
                        self.own.setdefault(key, set()).add(name)
        raw = sorted({n for ns in self.all.values() for n in ns})
        dem = run("c++filt", input="\n".join(raw)).splitlines() if raw else []
        self.demangled = dict(zip(raw, dem))
        # the exec LOAD segment: vaddr -> file offset
        self.loads = []
        for line in run("readelf", "-lW", path).splitlines():
            f = line.split()
            if f and f[0] == "LOAD":
                self.loads.append((int(f[2], 16), int(f[1], 16), int(f[5], 16)))

    def names(self, key, own_only):
        table = self.own if own_only else self.all
        return {norm(self.demangled.get(n, n)) for n in table.get(key, ())} | (
            {norm(n.split("@")[0]) for n in table.get(key, ())})

    def find(self, name):
        """Every (start, end) whose names include name (normalized)."""
        want = norm(name)
        return [k for k, ns in self.all.items()
                if any(norm(self.demangled.get(n, n)) == want or norm(n) == want for n in ns)]

    def offset(self, vaddr):
        for va, off, filesz in self.loads:
            if va <= vaddr < va + filesz:
                return vaddr - va + off
        return vaddr

    @functools.lru_cache(maxsize=None)
    def insns(self, start, end):
        out = run("objdump", "-d", "--no-show-raw-insn", f"--start-address={start:#x}",
                  f"--stop-address={end:#x}", self.path)
        res = []
        for line in out.splitlines():
            m = re.match(r"\s*([0-9a-f]+):\s+(\S+)\s*(.*)$", line)
            if m:
                res.append((int(m.group(1), 16), m.group(2), m.group(3)))
        return res

    @functools.cached_property
    def got(self):
        """GOT slot -> the address (RELATIVE) or the name (GLOB_DAT/JUMP_SLOT) it holds."""
        out = {}
        for line in run("readelf", "-rW", self.path).splitlines():
            f = line.split()
            if len(f) >= 4 and re.fullmatch(r"[0-9a-f]{16}", f[0]):
                if f[2] == "R_X86_64_RELATIVE":
                    out[int(f[0], 16)] = int(f[3], 16)
                elif f[2] in ("R_X86_64_GLOB_DAT", "R_X86_64_JUMP_SLOT") and len(f) >= 5:
                    out[int(f[0], 16)] = norm(f[4])
        return out

    @functools.cached_property
    def fdes(self):
        out = run("readelf", "--debug-dump=frames", self.path)
        return [(int(a, 16), int(b, 16)) for a, b in re.findall(r"pc=([0-9a-f]+)\.\.([0-9a-f]+)", out)]

    def fde_of(self, addr):
        for a, b in self.fdes:
            if a <= addr < b:
                return (a, b)
        return None


def targets(elf, key, op):
    """Call (op 'call') or jump (op 'jmp') targets in a function: a set of
    addresses and names (PLT/GOT), plus '*' for an indirect one."""
    out = set()
    regs = {}  # register -> what the GOT slot last loaded into it holds (Rust hoists these)
    for _addr, mnem, rest in elf.insns(*key):
        ld = re.match(r"-?0x[0-9a-f]+\(%rip\),(%\w+)\s+# ([0-9a-f]+)", rest)
        if mnem == "mov" and ld and int(ld.group(2), 16) in elf.got:
            regs[ld.group(1)] = elf.got[int(ld.group(2), 16)]
        if not mnem.startswith(op):
            continue
        m = re.search(r"<([^>+]+)@plt>", rest)
        g = re.match(r"\*-?0x[0-9a-f]+\(%rip\)\s+# ([0-9a-f]+)", rest)
        if m:
            out.add(norm(m.group(1)))
        elif g and int(g.group(1), 16) in elf.got:
            out.add(elf.got[int(g.group(1), 16)])  # through the GOT: what the slot holds
        elif rest.strip() in ("*" + r for r in regs):
            out.add(regs[rest.strip()[1:]])
            out.add("*")
        elif rest.startswith("*"):
            out.add("*")
        else:
            m = re.match(r"([0-9a-f]+)", rest)
            if m:
                out.add(int(m.group(1), 16))
    return out


def has_syscall(elf, key):
    return any(m == "syscall" for _a, m, _r in elf.insns(*key))


def reaches(src, skey, dst, dkey, indirect, op="call"):
    t = targets(src, skey, op)
    if indirect:
        return "*" in t
    if src is dst and dkey[0] in t:
        return True
    return bool(dst.names(dkey, False) & t)


class Spec:
    """One thread's expected chain, proved against the binaries."""

    def __init__(self, mods, frames, spinner):
        self.frames = []  # (elf, [keys]) root first
        self.errors = []
        prev = None
        for i, fr in enumerate(frames):
            via = None
            if " via " in fr:
                fr, via = fr.split(" via ", 1)
            planted = fr.startswith("=")
            ind = fr.startswith("*")
            mod, name = split_mod(fr.lstrip("*="))
            elf = mods[mod]
            keys = self.resolve(mods, elf, name)
            if not keys:
                self.errors.append(f"{mod}:{name} not found in {elf.path}")
                self.frames.append((elf, []))
                prev = (elf, [])
                continue
            if prev is not None and prev[1] and not planted:
                pelf, pkeys = prev
                if via:
                    vind = via.startswith("*")
                    vmod, vname = split_mod(via.lstrip("*"))
                    velf = mods[vmod]
                    vkeys = self.resolve(mods, velf, vname)
                    ok = [k for k in keys
                          if any(reaches(pelf, pk, velf, vk, vind) and reaches(velf, vk, elf, k, ind, "jmp")
                                 for pk in pkeys for vk in vkeys)]
                    how = f"calls {via} which jumps to"
                else:
                    ok = [k for k in keys if any(reaches(pelf, pk, elf, k, ind) for pk in pkeys)]
                    how = "calls (indirectly)" if ind else "calls"
                if not ok:
                    self.errors.append(f"objdump: {frames[i - 1]} never {how} {mod}:{name}")
                else:
                    keys = ok
            self.frames.append((elf, keys))
            prev = (elf, keys)
        leaf_elf, leaf_keys = self.frames[-1]
        if leaf_keys and not spinner and not any(has_syscall(leaf_elf, k) for k in leaf_keys):
            self.errors.append(f"objdump: the leaf {frames[-1]} has no syscall instruction")
        if leaf_keys and spinner and any(has_syscall(leaf_elf, k) or targets(leaf_elf, k, "call")
                                         for k in leaf_keys):
            self.errors.append(f"objdump: the spinning leaf {frames[-1]} makes calls")

    @staticmethod
    def resolve(mods, elf, name):
        if name == "@thread_routine":
            # the function std::thread::_M_start_thread passes to pthread_create
            for key in elf.find("std::thread::_M_start_thread(std::unique_ptr<std::thread::_State,std::default_delete<std::thread::_State>>,void(*)())"):
                leas = []
                for _a, m, rest in elf.insns(*key):
                    mm = re.search(r"# ([0-9a-f]+)", rest)
                    if m == "lea" and mm:
                        leas.append(int(mm.group(1), 16))
                    if m == "call" and "pthread_create" in rest and leas:
                        fde = elf.fde_of(leas[-1])
                        return [fde] if fde and fde[0] == leas[-1] else []
            return []
        return elf.find(name)

    def matches(self, i, frame, own_only):
        elf, keys = self.frames[i]
        n = norm(frame)
        for k in keys:
            if n in elf.names(k, own_only):
                return True
            m = re.fullmatch(re.escape(elf.base) + r"\+0x([0-9a-f]+)", frame)
            if m and elf.offset(k[0]) <= int(m.group(1), 16) <= elf.offset(k[1] - 1):
                return True
        return False

    def describe(self, i):
        elf, keys = self.frames[i]
        if not keys:
            return "?"
        k = keys[0]
        raw = sorted(elf.own.get(k, ())) or sorted(elf.all.get(k, ()))
        names = [elf.demangled.get(n, n) for n in raw]
        return (names[0] if names else "") + f"[{elf.base}+{elf.offset(k[0]):#x}..{elf.offset(k[1] - 1) + 1:#x}]"


def diff(spec, frames, own):
    """Expected frames missing from frames and frames not expected, by an
    alignment (longest common subsequence) of the two chains."""
    n, m = len(spec.frames), len(frames)
    L = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            L[i][j] = L[i + 1][j + 1] + 1 if spec.matches(i, frames[j], own) else max(L[i + 1][j], L[i][j + 1])
    i = j = 0
    missing, unexpected = [], []
    while i < n or j < m:
        if i < n and j < m and spec.matches(i, frames[j], own):
            i, j = i + 1, j + 1
        elif i < n and (j == m or L[i + 1][j] >= L[i][j + 1]):
            missing.append(spec.describe(i))
            i += 1
        else:
            unexpected.append(frames[j])
            j += 1
    return missing, unexpected


def user_frames(folded):
    fr = [f for f in folded.split(";") if not f.endswith("_[k]")] if folded != "[no stack]" else []
    return [f for f in fr if not f.endswith("_[i]")], [f for f in fr if f.endswith("_[i]")]


def analyzer_cmd(analyzer, vmt, outdir, mode, bindir, hide):
    if mode == "present":
        return [analyzer, vmt, "--csv", outdir, "--debug-dir", bindir]
    # absent: the libraries and debug files are hidden; run the analyzer
    # through a private copy of its loader and libraries
    ld = None
    for line in run("ldd", analyzer).splitlines():
        f = line.split()
        p = f[2] if len(f) > 2 and f[1] == "=>" else f[0] if f and f[0].startswith("/") else None
        if p and os.path.exists(p):
            shutil.copy(os.path.realpath(p), os.path.join(hide, os.path.basename(p)))
            if "ld-linux" in p:
                ld = os.path.join(hide, os.path.basename(p))
    # mount(8) needs the libraries: hide them last; a failed mount fails the run
    dirs = [d for d in ("/usr/lib/debug", LIBDIR) if os.path.isdir(d)]
    mounts = " && ".join(f"mount -t tmpfs none {d}" for d in dirs)
    script = (f'{mounts} && test ! -e {LIBDIR}/libc.so.6 && '
              'exec "$0" --library-path "$1" "$2" "$3" --csv "$4"')
    return ["unshare", "-m", "sh", "-c", script, ld, hide, analyzer, vmt, outdir]


def main():
    d, analyzer = sys.argv[1], sys.argv[2]
    passed = failed = 0

    def ok(msg):
        nonlocal passed
        passed += 1
        print("PASS " + msg)

    def bad(msg):
        nonlocal failed
        failed += 1
        print("FAIL " + msg)

    progs, threads = {}, {}
    with open(os.path.join(d, "expected.txt")) as f:
        for line in f:
            w = line.split()
            if w[:1] == ["program"]:
                progs[w[1]] = int(w[2])
            elif w[:1] == ["thread"]:
                threads.setdefault(w[1], []).append((w[2], int(w[3])))
    debug_of = {}
    for prog, pid in progs.items():
        if prog not in SPEC:
            print(f"note: {prog}: no expected chains (see the report for what it showed)")
        binary = os.path.join(d, prog)
        mods = {"prog": Elf(binary)}
        r = subprocess.run(["ldd", binary], capture_output=True, text=True)
        for line in r.stdout.splitlines() if r.returncode == 0 else []:
            f = line.split()
            if len(f) > 2 and f[1] == "=>" and f[2].startswith("/"):
                lib = f[2]
                bid = re.search(r"Build ID: ([0-9a-f]+)", run("readelf", "-n", lib))
                dbg = None
                if bid:
                    h = bid.group(1)
                    cand = f"/usr/lib/debug/.build-id/{h[:2]}/{h[2:]}.debug"
                    dbg = cand if os.path.exists(cand) else None
                debug_of[lib] = dbg
                mods[f[0].split(".so")[0]] = Elf(lib, dbg)
        specs = {}
        for comm, frames in SPEC.get(prog, {}).items():
            s = Spec(mods, frames, comm in SPINNERS)
            specs[comm] = s
            if s.errors:
                for e in s.errors:
                    bad(f"{prog}/{comm}: expectation not proved by the binaries: {e}")
            else:
                ok(f"{prog}/{comm}: expected chain proved by objdump: "
                   + ";".join(s.describe(i) for i in range(len(s.frames))))
        vmt = os.path.join(d, prog + ".vmt")
        for mode in ("present", "absent"):
            with tempfile.TemporaryDirectory() as tmp:
                out = os.path.join(tmp, "csv")
                hide = os.path.join(tmp, "hide")
                os.mkdir(hide)
                cmd = analyzer_cmd(analyzer, vmt, out, mode, d, hide)
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode != 0:
                    bad(f"{prog} ({mode}): vmon-analyze failed: {r.stderr.strip()[-300:]}")
                    continue
                with open(os.path.join(out, "stacks.csv")) as f:
                    stacks = {row["stack_id"]: row["folded"] for row in csv.DictReader(f)}
                with open(os.path.join(out, "task_samples.csv")) as f:
                    samples = list(csv.DictReader(f))
            if prog == "ustack_go":
                named = {tid for _c, tid in threads.get(prog, []) if _c in SPEC.get(prog, {})}
                for row in samples:
                    if int(row["tgid"]) != pid or int(row["pid"]) in named:
                        continue
                    frames, _inl = user_frames(stacks[row["stack_id"]])
                    what = f"{prog}/runtime thread tid {row['pid']} ({mode})"
                    unnamed = [f for f in frames if re.search(r"\+0x[0-9a-f]+$", f)]
                    root = norm(frames[0]) if frames else "[no user frames]"
                    if root in GO_ROOTS and not unnamed:
                        ok(f"{what}: ends at {root}: {';'.join(frames)}")
                    else:
                        bad(f"{what}: {';'.join(frames) or '[no user frames]'}: root {root} is not one of "
                            f"{', '.join(sorted(GO_ROOTS))}" + (f"; unnamed: {', '.join(unnamed)}" if unnamed else ""))
            for comm, tid in threads.get(prog, []):
                key = re.sub(r"\d+$", "", comm) if comm.startswith("cxx_worker") else comm
                rows = [r for r in samples if int(r["pid"]) == tid and int(r["tgid"]) == pid]
                what = f"{prog}/{comm} tid {tid} ({mode})"
                if not rows:
                    bad(f"{what}: no task sample of the thread")
                    continue
                for row in rows[:1]:
                    frames, inl = user_frames(stacks[row["stack_id"]])
                    got = ";".join(frames)
                    spec = specs.get(key)
                    if spec is None:
                        print(f"note: {what}: {got}")
                        continue
                    if spec.errors:
                        bad(f"{what}: not compared (the expectation is not proved): {got}")
                        continue
                    own = mode == "absent"
                    n = len(spec.frames)
                    same = len(frames) == n and all(spec.matches(i, frames[i], own) for i in range(n))
                    extra = f" (inlined, not compared: {';'.join(inl)})" if inl else ""
                    if same:
                        ok(f"{what}: {got}{extra}")
                        # issue 10: "truncated" means the stack is incomplete, so a
                        # complete chain must not be counted as truncated, and the
                        # capture says it reached the thread's root
                        if row.get("truncated") == "true":
                            bad(f"{what}: the chain is complete but the sample is flagged truncated")
                        if "user_complete" in row and row["user_complete"] != "yes":
                            bad(f"{what}: the chain is complete but user_complete is "
                                f"{row['user_complete'] or 'empty'} (user_stack {row.get('user_stack')})")
                        continue
                    missing, unexpected = diff(spec, frames, own)
                    flags = ", ".join(f"{k}={v}" for k, v in row.items()
                                      if k in ("truncated", "user_frames", "user_stack", "user_complete"))
                    if row.get("user_complete") == "yes" and len(frames) < n:
                        bad(f"{what}: flagged complete (user_complete=yes) although frames are missing")
                    bad(f"{what}: got {got or '[no user frames]'}{extra}; "
                        f"missing {len(missing)} of {n}: {', '.join(missing) or '-'}; "
                        f"not expected: {', '.join(unexpected) or '-'} ({flags})")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
