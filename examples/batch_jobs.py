"""Classify news titles at half price through DashScope's Batch API, resumably.

    pip install "cn-llm[langchain]"
    python examples/batch_jobs.py          # DASHSCOPE_API_KEY set: real jobs (they can take hours)

Every request is validated before anything is uploaded; the jobs' state goes to a small JSON file,
so running the script again (after Ctrl-C, a crash, a reboot) resumes the same jobs instead of
paying twice. Without DASHSCOPE_API_KEY the offline gateway emulates DashScope's files and
batches (states, output and error files) with time compressed to a fraction of a second.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from _gateway import gateway

from cn_llm_client import CNLLMClient
from cn_llm_client.batch import BatchJob, chat_requests

MODEL = "qwen-plus"
INSTRUCTION = "把新闻标题归入以下类别之一：科技、体育、财经、娱乐。只回答类别名称。"
TITLES = [
    "国产芯片在人工智能大会集中亮相",
    "城市马拉松吸引数万名跑者参赛",
    "央行宣布下调存款准备金率",
    "年度电影票房突破五百亿元",
    "新一代量子计算机原型机发布",
    "国家队在亚洲杯小组赛中取胜",
]


def main() -> None:
    with (
        gateway("dashscope") as settings,
        CNLLMClient(**settings) as client,
        tempfile.TemporaryDirectory() as folder,
    ):
        emulated = "base_url" in settings
        poll = (
            {"poll_interval": 0.05} if emulated else {"poll_interval": 60, "max_poll_interval": 600}
        )
        state = Path(folder) / "titles.batch.json"
        requests = chat_requests(MODEL, TITLES, system=INSTRUCTION, temperature=0)

        job = BatchJob(client, requests, state_file=state)
        print("submitted:", ", ".join(job.submit()), f"(state in {state.name})")
        # A second run with the same inputs and state file finds the job instead of paying twice:
        again = BatchJob(client, requests, state_file=state)
        print("resumed the same job:", again.submit() == job.batch_ids)

        def progress(counts: dict[str, int], jobs: list[dict]) -> None:
            status = "/".join(j["status"] for j in jobs)
            print(f"  {status}: {counts['completed']} of {counts['total']} done")

        again.wait(on_progress=progress, **poll)
        results = again.results()
        for title, row in zip(TITLES, results, strict=True):
            print(f"{title} -> {row.text if row.ok else row.error}")
        if results.cost is not None and results.saved is not None:
            print(
                f"cost ${results.cost:.6f} at batch price, "
                f"${results.sync_cost:.6f} as synchronous calls: saved ${results.saved:.6f}"
            )

        # The same through LangChain: a prompt over rows, AIMessages back in order.
        from langchain_core.prompts import ChatPromptTemplate

        from langchain_cn_llm import ChatCNLLM
        from langchain_cn_llm.batch import batch_job

        llm = ChatCNLLM(model=MODEL, temperature=0, **settings)
        prompt = ChatPromptTemplate.from_messages([("system", INSTRUCTION), ("user", "{title}")])
        answers = batch_job(llm, [{"title": t} for t in TITLES[:2]], prompt=prompt, **poll)
        print("LangChain batch_job:", [getattr(a, "content", a) for a in answers])


if __name__ == "__main__":
    main()
