"""Ingest throughput and memory on HuatuoGPT-sft-data-v1-sized uploads, in two shapes.

Generates (once, cached under var/bench/) two synthetic JSON-lines files of the same dialogues, shaped
like HuatuoGPT-sft-data-v1: 226,043 rows, about 318 MB, mixed Chinese/English medical dialogue of 1-6
exchanges, with a few exact duplicates. One is sharegpt (``conversations`` of from/value turns); the
other is HuatuoGPT's own shape, a list of alternating prefixed strings (``{"data": ["问：...", "答：...",
...]}``). Each runs through the same ``ingest()`` an upload uses (default options: drop policy,
trimming, dedupe) and one JSON object with both figures is the last line printed.

    .venv/bin/python benchmarks/ingest.py [--rows N] [--cache-dir DIR]

Generation and each ingest run in child processes, so each peak RSS is that of one ingest alone.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from datasets_app.ingest import ingest  # noqa: E402

ROWS = 226_043
TARGET_SECONDS = 30
TARGET_PEAK_RSS_MB = 400
SEED = 20230524

ZH_QUESTIONS = [
    "医生您好，我最近总是头痛，尤其是下午的时候，还伴有恶心，请问是什么原因？",
    "孩子三岁，发烧38.5度已经两天了，吃了退烧药又反复，需要去医院吗？",
    "我有高血压五年了，一直在吃氨氯地平，最近血压控制不好，该怎么调整？",
    "体检发现甲状腺结节，大小约1.2厘米，边界清楚，需要做穿刺吗？",
    "胃部经常反酸烧心，晚上躺下更明显，是胃食管反流吗？",
    "怀孕二十周，最近腿抽筋很频繁，需要补钙吗？每天补多少合适？",
    "血糖空腹7.2，餐后两小时11.5，这算糖尿病吗？需要吃药吗？",
    "膝盖爬楼梯的时候疼，蹲下起来也困难，是不是关节炎？",
    "最近失眠严重，入睡困难，早上四点就醒，白天没精神，怎么办？",
    "咳嗽两周了，有黄痰，不发烧，需要拍胸片吗？",
]
ZH_ANSWERS = [
    "根据您描述的症状，可能与紧张性头痛或血压波动有关，建议先测量血压并记录头痛发作的时间。",
    "如果体温反复超过38.5度且持续超过三天，或者出现精神差、呼吸急促，应及时就医。",
    "血压控制不佳时不要自行加药，建议在医生指导下调整剂量或联合用药，同时注意低盐饮食。",
    "甲状腺结节大于1厘米且超声提示可疑特征时，通常建议细针穿刺明确性质。",
    "反酸烧心夜间加重符合胃食管反流的表现，建议抬高床头、避免睡前进食，必要时服用抑酸药。",
    "孕中期腿抽筋多与缺钙有关，一般建议每日补充钙剂六百至一千毫克，并适当晒太阳。",
    "空腹血糖超过7.0且餐后两小时超过11.1，需要复查确认，符合标准即可诊断为糖尿病。",
    "上下楼梯疼痛多见于髌股关节问题或骨关节炎，建议拍膝关节X光片，减少爬山和深蹲。",
    "长期失眠需要排查焦虑抑郁等因素，保持规律作息，睡前避免使用手机，必要时短期服用助眠药物。",
    "咳嗽超过两周伴黄痰，建议查血常规和胸部X线，排除肺部感染，多喝水，避免辛辣刺激。",
    "以上建议仅供参考，具体诊疗请以线下医生面诊意见为准。",
    "另外需要注意观察症状变化，如果出现加重或新的不适，请及时复诊。",
]
EN_QUESTIONS = [
    "I have had a persistent dry cough for three weeks and mild chest tightness. Should I be worried?",
    "My blood pressure readings are around 150/95 in the morning. Is medication necessary?",
    "What is the difference between a viral and a bacterial throat infection?",
    "My father was diagnosed with type 2 diabetes. What diet changes help the most?",
    "I feel dizzy when I stand up quickly. Could this be related to low blood pressure?",
    "How long should I wait after a sprained ankle before I start running again?",
]
EN_ANSWERS = [
    "A cough lasting more than three weeks deserves a chest X-ray and a physical examination.",
    "Repeated readings above 140/90 usually call for lifestyle changes and often medication.",
    "Viral infections usually resolve on their own, while bacterial ones may need antibiotics.",
    "Reduce refined carbohydrates, eat more vegetables and fibre, and keep regular meal times.",
    "Orthostatic hypotension is common; drink enough water and rise slowly from lying or sitting.",
    "Most mild sprains allow light running after two to three weeks if walking is pain-free.",
    "Please consult a doctor in person if the symptoms persist or get worse.",
]
TURN_WEIGHTS = [55, 20, 11, 7, 4, 3]  # 1..6 exchanges


def _message(rng: random.Random, pool: list[str], extra: list[str], n: int) -> str:
    parts = rng.choices(pool, k=n) + rng.choices(extra, k=rng.randint(0, 2))
    rng.shuffle(parts)
    return f"（病例编号{rng.randrange(10**6)}）" + "".join(parts)


def generate(path: Path, rows: int, shape: str) -> None:
    rng = random.Random(SEED)
    tmp = path.with_suffix(".part")
    previous: list[str] = []
    with open(tmp, "w", encoding="utf-8") as file:
        for i in range(rows):
            if previous and rng.random() < 0.004:
                file.write(rng.choice(previous))  # an exact duplicate, as real scrapes have
                continue
            english = rng.random() < 0.15
            questions, answers = (EN_QUESTIONS, EN_ANSWERS) if english else (ZH_QUESTIONS, ZH_ANSWERS)
            conversation = []
            for _ in range(rng.choices(range(1, 7), TURN_WEIGHTS)[0]):
                conversation.append({"from": "human", "value": _message(rng, questions, answers[-2:], 1)})
                conversation.append({"from": "gpt", "value": _message(rng, answers, questions[:1], 3)})
            if shape == "turns":
                prefixes = ("问：", "答：") if not english else ("User: ", "Assistant: ")
                data = [prefixes[j % 2] + turn["value"] for j, turn in enumerate(conversation)]
                row = {"data": data}
            else:
                row = {"id": f"huatuo-{i}", "conversations": conversation}
            line = json.dumps(row, ensure_ascii=False) + "\n"
            file.write(line)
            if i % 97 == 0:
                previous = [*previous[-50:], line]
    os.replace(tmp, path)


SHAPES = {"sharegpt": "huatuo-sharegpt", "turns": "huatuo-turns"}


def run_one(source: Path, out: Path) -> dict:
    """One ingest in this (child) process: its figures."""
    started = time.perf_counter()
    try:
        result = ingest(source, out, filename=source.name)
        seconds = time.perf_counter() - started
    finally:
        out.unlink(missing_ok=True)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    mb = source.stat().st_size / 1e6
    print(
        f"{source.name}: rows_in={result.rows_in} rows_out={result.rows_out} "
        f"dropped={result.dropped_by_reason} format={result.format} ignored={result.stats['ignored_fields']}",
        file=sys.stderr,
    )
    return {
        "format": result.format,
        "rows": result.rows_in,
        "rows_out": result.rows_out,
        "mb": round(mb, 1),
        "seconds": round(seconds, 2),
        "mb_per_s": round(mb / seconds, 1),
        "peak_rss_mb": round(peak_rss_mb, 1),
        "ok": seconds < TARGET_SECONDS and peak_rss_mb < TARGET_PEAK_RSS_MB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--generate-only", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--shape", choices=SHAPES, default="sharegpt", help=argparse.SUPPRESS)
    parser.add_argument("--ingest-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate_only:
        generate(args.generate_only, args.rows, args.shape)
        return
    if args.ingest_only:
        print(json.dumps(run_one(args.ingest_only, args.cache_dir / f"ingest-out-{args.shape}.jsonl")))
        return
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    runs = {}
    for shape, stem in SHAPES.items():
        source = args.cache_dir / f"{stem}-{args.rows}.jsonl"
        if not source.exists():
            started = time.perf_counter()
            command = [sys.executable, __file__, "--rows", str(args.rows), "--shape", shape]
            subprocess.run([*command, "--generate-only", str(source)], check=True)
            print(f"generated {source} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        command = [sys.executable, __file__, "--cache-dir", str(args.cache_dir), "--shape", shape]
        child = subprocess.run(
            [*command, "--ingest-only", str(source)], check=True, capture_output=True, text=True
        )
        sys.stderr.write(child.stderr)
        runs[shape] = json.loads(child.stdout.strip().splitlines()[-1])
    report = {
        "benchmark": "ingest",
        "runs": runs,
        "target_seconds": TARGET_SECONDS,
        "target_peak_rss_mb": TARGET_PEAK_RSS_MB,
        "ok": all(run["ok"] for run in runs.values()),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
