"""The process that runs one untrusted submission for ``memlab grade`` (see memlab.classroom).

Started by the grader as ``python -m memlab.classroom_sandbox`` in a new session (its own
process group), with its working directory a throwaway copy of the student's own folder. It
reads its job (JSON) from stdin, forks once, and the child -- the *runner* -- does the work, so
``os.getppid()`` seen by student code names this short-lived supervisor, never the grader.

The runner, before any student code:

* compiles every graded cell's test code (the instructor's source, hidden part included) to
  code objects with the AST rewritten so that comparisons see *plain values* (``_plain``:
  exact builtin / numpy / torch types; subclasses are converted through the base class, any
  other object in a comparison or an ``assert`` is refused: an object whose ``__eq__`` is always
  true earns nothing);
* runs the instructor's import statements and snapshots every loaded module's namespace and
  the namespaces of its classes.

Then it runs the student's cells in an IPython shell (magics work), and runs each graded test
*outside* IPython: plain ``exec`` of the precompiled code in the user namespace, after the
modules (and ``builtins``) are restored from the snapshot, the instructor's imports rebound,
and the tracing hooks cleared. A custom exception handler, input or AST transformers, or a
rebound helper therefore have no effect on a test. Results go to the grader through an
inherited pipe, each message carrying a per-run token the student code is never handed.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import json
import os
import signal
import sys

_exec, _compile, _isinstance, _type, _BaseException = exec, compile, isinstance, type, BaseException
_PLAIN = (bool, int, float, complex, str, bytes, type(None))
_CONTAINERS = (tuple, list, dict, set, frozenset)


class CellTimeout(BaseException):
    """A cell ran past the per-cell time limit."""


class NotPlain(TypeError):
    """A graded comparison or assertion was handed an object that is not a plain value."""


def _on_alarm(signum, frame):
    raise CellTimeout("cell time limit reached")


# ---- plain values -----------------------------------------------------------------------
def _np_torch():
    np = sys.modules.get("numpy")
    torch = sys.modules.get("torch")
    return np, torch


def _to_plain(x, strict: bool, depth: int = 0):
    """``x`` as an exact builtin / numpy / torch value; subclasses go through their base
    class's own methods (never the subclass's). ``strict``: refuse anything else."""
    t = _type(x)
    if t in _PLAIN or t in _CONTAINERS and depth > 50:
        return x
    if t in _CONTAINERS:
        if t is dict:
            return {_to_plain(k, strict, depth + 1): _to_plain(v, strict, depth + 1)
                    for k, v in dict.items(x)}
        return t(_to_plain(v, strict, depth + 1) for v in t.__iter__(x))
    np, torch = _np_torch()
    if np is not None:
        if t is np.ndarray:
            return x if x.dtype != object else np.array(
                [_to_plain(v, strict, depth + 1) for v in x.ravel().tolist()],
                dtype=object).reshape(x.shape)
        if t in _NP_SCALARS:
            return x
        if _isinstance(x, np.ndarray):
            return _to_plain(np.ndarray.view(x, np.ndarray), strict, depth + 1)
        if _isinstance(x, np.generic):
            return np.ndarray.view(np.array(x), np.ndarray)[()]
    if torch is not None:
        if t is torch.Tensor or t is torch.nn.Parameter:
            return x
        if _isinstance(x, torch.Tensor):
            with torch._C.DisableTorchFunctionSubclass():
                return torch.Tensor.as_subclass(x, torch.Tensor).detach().clone()
    for base in _PLAIN[1:6] + _CONTAINERS:            # int/float/... subclasses: via the base
        if _isinstance(x, base):
            if base in _CONTAINERS:
                if base is dict:
                    return _to_plain(dict(dict.items(x)), strict, depth + 1)
                return _to_plain(base(base.__iter__(x)), strict, depth + 1)
            conv = {int: int.__int__, float: float.__float__, complex: complex.__complex__,
                    str: str.__str__, bytes: bytes.__bytes__ if hasattr(bytes, "__bytes__")
                    else bytes}[base]
            return base(conv(x))
    if strict:
        raise NotPlain(f"a graded test compared a {t.__module__}.{t.__qualname__}, not a plain "
                       "value (number, string, list, tuple, dict, set, numpy array, tensor)")
    for hook in ("__array_function__", "__array_ufunc__", "__torch_function__", "__array__",
                 "__array_interface__"):
        if hasattr(t, hook):
            raise NotPlain(f"a graded test was handed a {t.__qualname__} that overrides "
                           f"{hook}; hand it a plain value")
    return x


def _plain(x):
    return _to_plain(x, True)


def _arg(x):
    return _to_plain(x, False)


def _truth(x):
    return bool(_to_plain(x, True))


class _Plainify(ast.NodeTransformer):
    """Comparison operands, assertion tests and call arguments pass through the checks."""

    def _wrap(self, fn, node):
        return ast.copy_location(ast.Call(ast.Name(fn, ast.Load()), [node], []), node)

    def visit_Compare(self, node):
        self.generic_visit(node)
        if all(_isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops):
            return node
        node.left = self._wrap("__memlab_plain__", node.left)
        node.comparators = [self._wrap("__memlab_plain__", c) for c in node.comparators]
        return node

    def visit_Call(self, node):
        self.generic_visit(node)
        node.args = [a if _isinstance(a, ast.Starred) else self._wrap("__memlab_arg__", a)
                     for a in node.args]
        for kw in node.keywords:
            kw.value = self._wrap("__memlab_arg__", kw.value)
        return node

    def visit_Assert(self, node):
        self.generic_visit(node)
        node.test = self._wrap("__memlab_truth__", node.test)
        return node

    def visit_BoolOp(self, node):
        self.generic_visit(node)
        node.values = [self._wrap("__memlab_plain__", v) for v in node.values]
        return node

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if _isinstance(node.op, ast.Not):
            node.operand = self._wrap("__memlab_plain__", node.operand)
        return node


def compile_test(source: str, name: str):
    tree = ast.fix_missing_locations(_Plainify().visit(ast.parse(source)))
    return _compile(tree, f"<graded test {name}>", "exec")


def _imports(sources: list[str]) -> str:
    out = []
    for src in sources:
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        out += [ast.unparse(n) for n in tree.body if _isinstance(n, (ast.Import, ast.ImportFrom))]
    return "\n".join(out)


# ---- module snapshots --------------------------------------------------------------------
def _snapshot():
    mods = dict(sys.modules)
    snap = {}
    for name, m in mods.items():
        d = getattr(m, "__dict__", None)
        if not _isinstance(d, dict):
            continue
        classes = {}
        for v in list(d.values()):
            if _isinstance(v, type) and getattr(v, "__module__", None) == name:
                with contextlib.suppress(Exception):
                    classes[v] = dict(v.__dict__)
        snap[name] = (m, dict(d), classes)
    return mods, snap


def _restore(mods, snap):
    for name, m in mods.items():
        if sys.modules.get(name) is not m:
            sys.modules[name] = m
    for name, (m, saved, classes) in snap.items():
        d = m.__dict__
        for k, v in saved.items():
            if d.get(k, d) is not v:
                d[k] = v
        for cls, cd in classes.items():
            now = cls.__dict__
            for k, v in cd.items():
                if now.get(k, now) is not v:      # (an immutable type cannot be patched)
                    with contextlib.suppress(Exception):
                        setattr(cls, k, v)
            for k in [k for k in now if k not in cd and k.startswith("__")]:
                with contextlib.suppress(Exception):
                    delattr(cls, k)
    sys.settrace(None)
    sys.setprofile(None)
    import threading
    threading.settrace(None)
    threading.setprofile(None)


_NP_SCALARS: set = set()


# ---- the runner ----------------------------------------------------------------------------
def _send(fd, token, msg):
    data = (json.dumps({**msg, "t": token}) + "\n").encode()
    while data:
        data = data[os.write(fd, data):]


def _outputs(cap, res, limit=100_000):
    out = []
    if cap.stdout:
        out.append({"output_type": "stream", "name": "stdout", "text": cap.stdout[:limit]})
    if cap.stderr:
        out.append({"output_type": "stream", "name": "stderr", "text": cap.stderr[:limit]})
    for o in cap.outputs:
        data = {k: v for k, v in (o.data or {}).items() if _isinstance(v, str) and len(v) < limit}
        if data:
            out.append({"output_type": "display_data", "data": data, "metadata": {}})
    err = getattr(res, "error_in_exec", None) or getattr(res, "error_before_exec", None)
    if err is not None:
        out.append({"output_type": "error", "ename": _type(err).__name__,
                    "evalue": str(err)[:2000], "traceback": []})
    return out


def run(job: dict, fd: int) -> None:
    token, timeout = job.pop("token"), float(job["timeout"])
    cells, tests = job["cells"], {}
    for c in cells:                                   # before any student code
        if c["kind"] == "test":
            try:
                tests[c["grade_id"]] = compile_test(c["source"], c["grade_id"])
            except SyntaxError as e:
                tests[c["grade_id"]] = e
    signal.signal(signal.SIGALRM, _on_alarm)
    pre = _imports(job["instructor_code"])
    try:
        _exec(_compile(pre, "<instructor imports>", "exec"), {})
    except _BaseException:
        pass
    np, _ = _np_torch()
    if np is not None:
        _NP_SCALARS.update(v for v in np.sctypeDict.values() if _isinstance(v, type))
    mods, snap = _snapshot()
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    shell = InteractiveShell.instance()
    shell.user_ns["__name__"] = "__main__"
    guards = {"__memlab_plain__": _plain, "__memlab_arg__": _arg, "__memlab_truth__": _truth}
    for i, c in enumerate(cells):
        if c["kind"] == "markdown":
            continue
        if c["kind"] == "test":
            gid = c["grade_id"]
            _restore(mods, snap)
            user = shell.user_ns
            ns = dict(user)                           # the test's own globals: student code
            ns["__builtins__"] = builtins             # cannot rebind its names or guards
            status, outs = "passed", []
            try:
                signal.setitimer(signal.ITIMER_REAL, timeout)
                try:
                    _exec(_compile(_imports(c["imports"]), "<instructor imports>", "exec"), ns)
                    ns.update(guards)
                    code = tests[gid]
                    if _isinstance(code, SyntaxError):
                        raise code
                    with capture_output() as cap:
                        _exec(code, ns)
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                outs = _outputs(cap, None)
            except CellTimeout:
                status = "timeout"
            except _BaseException as e:
                status = f"failed: {_type(e).__name__}: {str(e)[:300]}"
                outs = [{"output_type": "error", "ename": _type(e).__name__,
                         "evalue": str(e)[:2000], "traceback": []}]
            for k, v in ns.items():                   # later cells see what the test made
                if k not in guards and k != "__builtins__" and user.get(k, ns) is not v:
                    user[k] = v
            _send(fd, token, {"cell": i, "outputs": outs})
            _send(fd, token, {"grade": gid, "status": status})
            continue
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            with capture_output() as cap:
                res = shell.run_cell(c["source"], store_history=False, silent=False)
            signal.setitimer(signal.ITIMER_REAL, 0)
            outs = _outputs(cap, res)
        except CellTimeout as e:
            outs = [{"output_type": "error", "ename": "CellTimeout", "evalue": str(e),
                     "traceback": []}]
        signal.setitimer(signal.ITIMER_REAL, 0)
        _send(fd, token, {"cell": i, "outputs": outs})
    _send(fd, token, {"done": True})


def main() -> None:
    fd = int(sys.argv[1])
    job = json.loads(sys.stdin.read())
    sys.stdin.close()
    os.environ.pop("MEMLAB_SANDBOX_FD", None)
    pid = os.fork()
    if pid == 0:                                      # the runner
        try:
            run(job, fd)
        except _BaseException:
            os._exit(1)
        os._exit(0)
    os.close(fd)
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        status = 0
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF if status else 0)


if __name__ == "__main__":
    builtins.__memlab_sandbox__ = True
    main()
