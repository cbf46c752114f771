"""``cn-llm batch``: submit, status, results and cancel of a batch job (``cn_llm_client.batch``).

    cn-llm --provider dashscope batch submit requests.jsonl --wait     # ready JSONL lines
    cn-llm --provider dashscope batch submit --prompts titles.txt --model qwen-plus
    cn-llm --provider dashscope batch status --state titles.txt.batch.json --wait
    cn-llm --provider dashscope batch results --state titles.txt.batch.json --output out.jsonl
    cn-llm --provider dashscope batch cancel --state titles.txt.batch.json

The state file (default: the input's name + ``.batch.json``) is the job's identity: ``submit``
run again with the same input resumes it instead of paying twice, and the other actions read
it. ``--wait`` draws a progress bar (rich.progress: completed / failed / total, from the jobs'
request counts) on a terminal, one final line otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .batch import BatchJob, BatchResults, Progress

__all__ = ["add_batch_command"]


def add_batch_command(command: Callable[..., Any], shared: argparse.ArgumentParser) -> None:
    """Register ``batch`` and its actions (``command`` is cli.build_parser's helper)."""
    batch = command(
        "batch",
        "Run requests through the provider's Batch API at half price (DashScope): submit, "
        "status, results, cancel. The state file makes a re-run resume the same job.",
        "cn-llm --provider dashscope batch submit --prompts titles.txt --model qwen-plus --wait",
        _help,
    )
    actions = batch.add_subparsers(dest="batch_action", metavar="ACTION")

    def action(name: str, help: str, run: Callable[[argparse.Namespace], int]) -> Any:
        parser = actions.add_parser(name, help=help, description=help, parents=[shared])
        parser.set_defaults(run=run)
        return parser

    submit = action(
        "submit", "Validate, upload and start the jobs (resumes a started one).", _submit
    )
    submit.add_argument("file", nargs="?", help="a JSONL file: one request per line")
    submit.add_argument("--prompts", help="a UTF-8 file with one prompt per line, instead")
    submit.add_argument("--model", help="the model for --prompts, e.g. qwen-plus")
    submit.add_argument("--system", help="a system prompt for every --prompts request")
    submit.add_argument(
        "--endpoint",
        default="/v1/chat/completions",
        choices=["/v1/chat/completions", "/v1/embeddings"],
        help="what the lines call (default: chat)",
    )
    submit.add_argument("--window", default="24h", help="completion window, 24h to 336h")
    _state_option(submit, required=False)
    _wait_options(submit)

    status = action("status", "Show the jobs' status and request counts.", _status)
    _state_option(status)
    _wait_options(status)

    results = action("results", "Download the results of finished jobs.", _results)
    _state_option(results)
    results.add_argument("--output", help="write one JSON line per request here")
    results.add_argument("--json", action="store_true", help="print the JSON lines to stdout")

    cancel = action("cancel", "Cancel the unfinished jobs.", _cancel)
    _state_option(cancel)


def _state_option(parser: argparse.ArgumentParser, required: bool = True) -> None:
    default = "" if required else " (default: the input file's name + .batch.json)"
    parser.add_argument("--state", required=required, help=f"the job's state file{default}")


def _wait_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", action="store_true", help="wait until every job is finished")
    parser.add_argument(
        "--poll-interval", type=float, default=5.0, help="seconds between polls, at first"
    )


def _help(args: argparse.Namespace) -> int:
    sys.stderr.write("cn-llm batch: choose an action: submit, status, results or cancel.\n")
    return 2


def _job(args: argparse.Namespace, requests: list[dict[str, Any]] | None = None) -> BatchJob:
    from .batch import BatchJob
    from .cli import _client

    options: dict[str, Any] = {"state_file": args.state}
    if requests is not None:
        options.update(endpoint=args.endpoint, completion_window=args.window)
    return BatchJob(_client(args), requests, **options)


def _requests(args: argparse.Namespace) -> tuple[list[dict[str, Any]], Path]:
    from .batch import chat_requests
    from .errors import InvalidRequestError

    if bool(args.file) == bool(args.prompts):
        raise InvalidRequestError("Pass a JSONL file or --prompts FILE (one of the two).")
    if args.prompts:
        if not args.model:
            raise InvalidRequestError("--prompts needs --model, e.g. --model qwen-plus.")
        path = Path(args.prompts)
        prompts = [line for line in _read(path).splitlines() if line.strip()]
        return chat_requests(args.model, prompts, system=args.system), path
    path = Path(args.file)
    requests = []
    for number, line in enumerate(_read(path).splitlines(), 1):
        if line.strip():
            try:
                requests.append(json.loads(line))
            except ValueError as exc:
                raise InvalidRequestError(f"{path}:{number} is not JSON: {exc}") from exc
    return requests, path


def _read(path: Path) -> str:
    from .errors import InvalidRequestError

    try:
        return path.read_text("utf-8")
    except OSError as exc:
        raise InvalidRequestError(f"Cannot read {str(path)!r}: {exc.strerror}.") from exc


def _submit(args: argparse.Namespace) -> int:
    requests, source = _requests(args)
    args.state = args.state or str(source) + ".batch.json"
    job = _job(args, requests)
    ids = job.submit()
    out = sys.stdout
    out.write(f"{len(ids)} job(s) for {job.counts()['total']} requests: {', '.join(ids)}\n")
    out.write(f"state file: {args.state} (run the same command again to resume, never pay twice)\n")
    saving = job.estimated_saving()
    if saving is not None:
        out.write(f"estimated saving against synchronous calls: at least ${saving:.4f}\n")
    return _wait_and_summarise(job, args) if args.wait else 0


def _status(args: argparse.Namespace) -> int:
    job = _job(args)
    if args.wait:
        return _wait_and_summarise(job, args)
    counts = job.poll()
    for batch_id in job.batch_ids:
        status = job.jobs[batch_id]
        c = status.get("request_counts") or {}
        sys.stdout.write(
            f"{batch_id}: {status['status']} ({c.get('completed', 0)} completed, "
            f"{c.get('failed', 0)} failed of {c.get('total', 0)})\n"
        )
    sys.stdout.write(_counts_line(counts, job.done) + "\n")
    return 0


def _results(args: argparse.Namespace) -> int:
    job = _job(args)
    results = job.results()
    lines = [json.dumps(_row(row), ensure_ascii=False) + "\n" for row in results]
    if args.output:
        Path(args.output).write_text("".join(lines), "utf-8")
    if args.json:
        sys.stdout.writelines(lines)
    _summary(results, sys.stderr if args.json else sys.stdout)
    return 0


def _cancel(args: argparse.Namespace) -> int:
    job = _job(args)
    for status in job.cancel():
        sys.stdout.write(f"{status['id']}: {status['status']}\n")
    return 0


def _wait_and_summarise(job: BatchJob, args: argparse.Namespace) -> int:
    from .cli import _is_tty

    with _progress_bar(_is_tty(sys.stderr)) as on_progress:
        job.wait(poll_interval=args.poll_interval, on_progress=on_progress)
    sys.stdout.write(_counts_line(job.counts(), True) + "\n")
    _summary(job.results(), sys.stdout)
    return 0


@contextmanager
def _progress_bar(terminal: bool) -> Iterator[Progress | None]:
    """rich.progress on a terminal (completed + failed of total); nothing otherwise."""
    if not terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .cli import _console

    columns = (
        TextColumn("batch"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
    )
    # cli._progress's bar plus a failed column (its report() carries done and total only).
    with Progress(*columns, console=_console(sys.stderr), transient=True) as bar:
        task = bar.add_task("batch", total=None, failed=0)

        def update(counts: dict[str, int], jobs: list[dict[str, Any]]) -> None:
            done = counts["completed"] + counts["failed"]
            bar.update(task, total=counts["total"], completed=done, failed=counts["failed"])

        yield update


def _counts_line(counts: dict[str, int], done: bool) -> str:
    state = "finished" if done else "running"
    return (
        f"{state}: {counts['completed']} completed, {counts['failed']} failed, "
        f"{counts['total']} requests"
    )


def _row(row: Any) -> dict[str, Any]:
    if row.ok:
        return {"custom_id": row.custom_id, "response": row.response, "cost": row.cost}
    error = row.error
    return {
        "custom_id": row.custom_id,
        "error": {"type": type(error).__name__, "code": error.code, "message": error.message},
    }


def _summary(results: BatchResults, out: Any) -> None:
    out.write(f"{len(results) - len(results.failed)} answered, {len(results.failed)} failed\n")
    if results.cost is not None and results.saved is not None:
        out.write(
            f"cost ${results.cost:.6f} at batch price; ${results.saved:.6f} saved against "
            f"synchronous calls (${results.sync_cost:.6f})\n"
        )
    else:
        out.write("cost: unknown (the catalog has no price for this model or provider)\n")
