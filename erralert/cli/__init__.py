"""The ``erralert`` command.

    erralert demo [--once]                 see it work, with no chat account
    erralert inbox [--port 8025]           a local chat inbox for every platform
    erralert preview --platform dingtalk   what a message will look like
    erralert check                         is the configuration right?
    erralert send-test                     does each chat accept our messages?
    erralert templates export DIR          the default templates, to edit

Configuration comes from the ``ERRALERT_*`` environment variables, which flags override.
Exit codes: 0 success, 1 a problem found (``check``, ``send-test``, a failed template in
``preview``, a demo that did not deliver), 2 a usage error.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlencode

from erralert._core.errors import ConfigError
from erralert.cli.terminal import table

__all__ = ["main"]

DEFAULT_PORT = 8025


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        code: int = args.run(args)
    except ConfigError as exc:
        print(f"erralert: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


# -- the parser -----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="erralert",
        description="Unhandled exceptions to your team chat: grouped, rate-limited, templated.",
        epilog="Run 'erralert COMMAND --help' for a command's options.",
    )
    from erralert import __version__

    parser.add_argument("--version", action="version", version=f"erralert {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="run a failing demo app whose alerts land in the local inbox",
        description="Start the local chat inbox and a small demo app, make the app fail "
        "(distinct errors, a burst of repeats, a storm) and show what every chat platform "
        "receives: alerts, a digest and storm summaries.",
    )
    demo.add_argument("--once", action="store_true", help="run the scenario, print a summary, exit")
    demo.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"inbox port (default {DEFAULT_PORT}; with --once a free one)",
    )
    demo.add_argument("--db", help="inbox database file (default: a temporary one)")
    demo.set_defaults(run=_demo)

    inbox = commands.add_parser(
        "inbox",
        help="serve a local chat inbox that accepts every platform's webhooks",
        description="A local stand-in for every chat platform: point a webhook at it "
        "(e.g. slack+http://127.0.0.1:8025/services/T/B/X) and read the messages in a web "
        "page rendered the way each platform shows them.",
    )
    inbox.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    inbox.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})"
    )
    inbox.add_argument(
        "--db", help="where messages are kept (default $XDG_DATA_HOME/erralert/inbox.db)"
    )
    inbox.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="PLATFORM=SECRET",
        help="verify the signatures of a platform (dingtalk, feishu, lark, webhook); repeatable",
    )
    inbox.add_argument(
        "--token",
        default=os.environ.get("ERRALERT_INBOX_TOKEN"),
        help="require this token on every page, API call and webhook (?token=, "
        "Authorization: Bearer); needed to bind another address than loopback "
        "(default $ERRALERT_INBOX_TOKEN)",
    )
    inbox.add_argument(
        "--max-messages",
        type=_positive_int,
        default=1000,
        help="keep at most this many messages, dropping the oldest (default 1000)",
    )
    inbox.add_argument(
        "--max-mb",
        type=_positive_float,
        default=50.0,
        help="keep at most this many megabytes of messages, dropping the oldest (default 50)",
    )
    inbox.set_defaults(run=_inbox)

    preview = commands.add_parser(
        "preview",
        help="print the message a platform would receive",
        description="Render a realistic sample error (or the one a script raises) with the "
        "templates in use and print the title, the body and the request's JSON.",
    )
    from erralert.channels.registry import PLATFORMS

    preview.add_argument("--platform", choices=sorted(PLATFORMS), help="the platform to render for")
    preview.add_argument(
        "--webhook", help="render for this webhook URL (its ?template=, ?keyword=, ...)"
    )
    preview.add_argument("--kind", choices=("alert", "digest", "storm"), default="alert")
    preview.add_argument(
        "--exception-from",
        metavar="FILE.py",
        help="a Python file that raises: preview its exception",
    )
    preview.add_argument("--json", action="store_true", help="print one JSON object instead")
    _config_flags(preview, webhooks=False)
    preview.set_defaults(run=_preview)

    check = commands.add_parser(
        "check",
        help="validate the configuration: webhooks, templates, options",
        description="Read the configuration (ERRALERT_CONFIG file, environment, then flags), "
        "check every webhook URL and render every template once; print the channels with "
        "their secrets masked and their pacing, and the routing rules and owners. Without "
        "a webhook, check the templates alone: every kind rendered for each platform "
        "--template-dir has a file for (every platform if none). Exit code 1 on any problem.",
    )
    _config_flags(check)
    check.add_argument(
        "--explain",
        metavar="ERROR",
        help="say which routing rule an error matches and why, where it goes and whom it "
        "mentions, e.g. 'app.payments.PaymentDeclined at app/payments/charge.py route=/pay "
        "env=prod' (also method=, level=, logger=, module=, tag.NAME=)",
    )
    check.set_defaults(run=_check)

    send_test = commands.add_parser(
        "send-test",
        help="send one test message to each configured channel",
        description="Send a test message to each channel now and print what each platform "
        "answered, with what to do about a refusal. Exit code 1 unless all accepted.",
    )
    _config_flags(send_test)
    send_test.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    send_test.set_defaults(run=_send_test)

    templates = commands.add_parser(
        "templates",
        help="work with the message templates",
        description="Work with the message templates.",
    )
    template_commands = templates.add_subparsers(title="commands", metavar="COMMAND")
    export = template_commands.add_parser(
        "export",
        help="copy the default templates into a folder, to edit",
        description="Copy erralert's default templates (every platform, and the zh/ set) "
        "into DIR. Point template_dir= (or ERRALERT_TEMPLATE_DIR) at it: a file there "
        "replaces the default of the same name; delete the ones you do not change.",
    )
    export.add_argument("directory", metavar="DIR")
    export.add_argument("--force", action="store_true", help="overwrite files that exist")
    export.set_defaults(run=_export)
    templates.set_defaults(run=lambda _args: _usage(templates))
    return parser


def _config_flags(parser: argparse.ArgumentParser, *, webhooks: bool = True) -> None:
    group = parser.add_argument_group("configuration (overrides the ERRALERT_* environment)")
    if webhooks:
        group.add_argument(
            "--webhook",
            action="append",
            dest="webhooks",
            metavar="URL",
            help="a webhook URL (repeatable; default $ERRALERT_WEBHOOKS)",
        )
    group.add_argument("--template-dir", help="templates that replace the defaults by name")
    group.add_argument("--locale", help="message language: en or zh (default $ERRALERT_LOCALE)")
    group.add_argument("--timezone", help="time zone of times in messages, e.g. Asia/Shanghai")
    group.add_argument("--service", help="the service name shown in messages")
    group.add_argument("--environment", help="the environment shown in messages")


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _fail(message: str, code: int = 2) -> NoReturn:
    print(f"erralert: {message}", file=sys.stderr)
    raise SystemExit(code)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """Alerter options: the environment's, then the flags given."""
    from erralert._core.config import env_options

    options = env_options()
    for name in ("webhooks", "template_dir", "locale", "timezone", "service", "environment"):
        value = getattr(args, name, None)
        if value:
            options[name] = value
    return options


# -- commands -------------------------------------------------------------------------------


def _needs_uvicorn(command: str) -> None:
    """The inbox runs under uvicorn, which is in the demo extra, not a core dependency:
    without it, one line saying what to install rather than an ImportError's traceback."""
    try:
        import uvicorn  # noqa: F401
    except ImportError:
        _fail(
            f"{command} needs uvicorn (erralert's demo extra): pip install uvicorn, or "
            "pip install -e '.[demo]' in erralert's checkout",
            1,
        )


def _demo(args: argparse.Namespace) -> int:
    _needs_uvicorn("erralert demo")
    from erralert import inbox
    from erralert.cli.demo import DEMO_SECRETS, run_demo

    port = args.port if args.port is not None else (0 if args.once else DEFAULT_PORT)
    with tempfile.TemporaryDirectory(prefix="erralert-demo-") as scratch:
        db = args.db or os.path.join(scratch, "inbox.sqlite3")
        listeners: list[Any] = []

        def on_message(message: Any) -> None:
            for listener in listeners:
                listener(message.kind)

        with inbox.start(
            port=port, db_path=db, secrets=DEMO_SECRETS, on_message=on_message
        ) as running:
            until = " (until the demo ends)" if args.once else ""
            print(f"erralert demo — the local chat inbox{until}: {running.url}/")

            def messages() -> list[Any]:
                return list(running.store.messages(limit=100_000))

            result = run_demo(running.url, messages, on_received=listeners)
            print(result.table())
            print(
                f"\n{result.requests} failing requests → {result.total('alert')} alerts, "
                f"{result.total('digest')} digests, {result.total('storm')} storm summaries "
                f"in {result.seconds:.1f} s"
            )
            for refusal in result.refused:
                print(f"refused: {refusal}", file=sys.stderr)
            if args.once:
                # the address printed above stops answering now: say where the messages are
                if args.db:
                    print(
                        f"\nThe inbox stopped with the demo; its messages are kept in {db}: "
                        f"erralert inbox --db {shlex.quote(db)} shows them."
                    )
                else:
                    print(
                        "\nThe inbox stopped with the demo, and its messages with it: "
                        "erralert demo keeps it open; erralert demo --once --db FILE keeps "
                        "the messages for erralert inbox --db FILE."
                    )
            else:
                print(f"\nOpen {running.url}/ to read them as each chat shows them. Ctrl-C stops.")
                try:
                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    return 0
            if not result.ok:
                print("erralert demo: not every kind of message arrived", file=sys.stderr)
                return 1
            return 0


def _inbox(args: argparse.Namespace) -> int:
    _needs_uvicorn("erralert inbox")
    from erralert import inbox
    from erralert.inbox.platforms.registry import PLATFORMS
    from erralert.inbox.receive import EXAMPLE_PATHS

    signed = [name for name, platform in PLATFORMS.items() if platform.signed]
    secrets: dict[str, str] = {}
    for item in args.secret:
        platform, sep, secret = item.partition("=")
        if not sep or not secret or platform not in signed:
            _fail(f"--secret {platform}=…: expected {'=…, '.join(signed)}=…")
        secrets[platform] = secret
    if inbox.require_token_for(args.host) and not args.token:
        _fail(
            f"binding {args.host} would show your team's stack traces to anyone who can reach "
            "it: pass --token (or set ERRALERT_INBOX_TOKEN), or bind 127.0.0.1"
        )
    db = Path(args.db) if args.db else inbox.default_db_path()
    db.parent.mkdir(parents=True, exist_ok=True)

    def ready(url: str) -> None:
        shown = url.replace("0.0.0.0", "127.0.0.1")
        token = {"inbox_token": args.token} if args.token else {}
        print(f"erralert inbox: {_with_query(shown + '/', token)}")
        print(f"messages are kept in {db}; Ctrl-C stops. Point a webhook at it, e.g.:")
        for platform, path in EXAMPLE_PATHS.items():
            secret = {"secret": secrets[platform]} if platform in secrets else {}
            print(f"  {platform}+{_with_query(shown + path, {**secret, **token})}")
        sys.stdout.flush()

    inbox.serve(
        host=args.host,
        port=args.port,
        db_path=db,
        secrets=secrets,
        token=args.token,
        ready=ready,
        max_messages=args.max_messages,
        max_bytes=int(args.max_mb * 1_000_000),
    )
    return 0


def _with_query(url: str, params: dict[str, str]) -> str:
    """``url`` with ``params`` added, each URL-encoded: printed URLs work as printed."""
    if not params:
        return url
    return url + ("&" if "?" in url else "?") + urlencode(params)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: at least 1")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text}: more than 0")
    return value


def _preview(args: argparse.Namespace) -> int:
    from erralert.channels.registry import parse_webhook
    from erralert.cli.checkup import renderer_for
    from erralert.cli.preview import SAMPLE_URLS, event_from_script, preview

    if not args.platform and not args.webhook:
        _fail("preview: give --platform NAME or --webhook URL")
    options = _options(args)
    channel = parse_webhook(args.webhook or SAMPLE_URLS[args.platform])
    if args.platform and channel.platform != args.platform:
        _fail(f"preview: --webhook is a {channel.platform} URL, not {args.platform}")
    renderer = renderer_for(options)
    event = None
    if args.exception_from:
        event = event_from_script(
            args.exception_from,
            **{k: options[k] for k in ("service", "environment", "release") if k in options},
        )
    shown = preview(channel, args.kind, event=event, renderer=renderer)
    if args.json:
        print(json.dumps(shown.to_dict(), ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(shown.to_text())
    if shown.template_error:
        print(f"erralert: {shown.template_error}", file=sys.stderr)
        return 1
    return 0


def _check(args: argparse.Namespace) -> int:
    from erralert.cli.checkup import check_configuration

    try:
        options = _options(args)
    except ConfigError as exc:  # a malformed ERRALERT_* variable is one problem among others
        print(f"✗ {exc}")
        return 1
    report = check_configuration(options)
    if args.explain and report.router is None:
        _fail("check --explain: no routes or owners are configured (routes=, owners=)")
    if report.templates:
        print(
            "no webhook configured (ERRALERT_WEBHOOKS, the ERRALERT_CONFIG file or --webhook): "
            "checking the templates alone; an app would write its alerts to stderr"
        )
        shown: list[tuple[str, ...]] = [("platform", "template", "rendered")]
        shown += [
            (t.platform, t.template, "✗ (below)" if t.problems else ", ".join(t.kinds))
            for t in report.templates
        ]
        print(table(shown))
    if report.channels:
        rows = [("channel", "platform", "pacing", "template", "mentions")]
        rows += [
            (c.name, c.platform, c.pacing, c.template, ", ".join(c.mentions) or "—")
            for c in report.channels
        ]
        print(table(rows))
    if report.robots is not None:
        print("\nwho posts to these robots (live processes, as the store knows them):")
        if report.robots:
            sharing = [("channel", "services", "processes", "hosts")]
            sharing += [
                (
                    name,
                    ", ".join(s or "(no service)" for s in use.services),
                    str(use.processes),
                    str(use.hosts),
                )
                for name, use in report.robots.items()
            ]
            print(table(sharing))
        else:
            print("  nobody yet: no process using this store has checked in")
    if any(c.route for c in report.channels):  # a proxy is configured somewhere
        ways = [("channel", "route")] + [(c.name, c.route or "direct") for c in report.channels]
        print("\nproxy routes (how each webhook's requests leave this host):")
        print(table(ways))
    extras = [
        f"{k}={options[k]}"
        for k in ("locale", "timezone", "template_dir", "store", "window", "service", "environment")
        if options.get(k)
    ]
    if extras:
        print("options: " + ", ".join(extras))
    if report.links:
        print("links:")
        for link in report.links:
            print(f"  {link.name}: {link.template}")
    if report.router is not None:
        from erralert._routing import facts_from_text
        from erralert._routing.report import explain, owners_table, routing_table

        print("\nrouting (first matching rule wins unless it says continue):")
        print(table(routing_table(report.router, report.silenced)))
        if report.router.owners:
            print("\nowners:")
            print(table(owners_table(report.router)))
        if args.explain:
            try:
                facts = facts_from_text(args.explain)
            except ValueError as exc:
                _fail(f"check --explain: {exc}")
            if not facts.environment and options.get("environment"):
                facts = dataclasses.replace(facts, environment=options["environment"])
            print()
            print(explain(report.router, facts, window=float(options.get("window") or 300)))
    for problem in report.problems:
        print(f"✗ {problem}")
    if report.ok and report.templates:
        kinds = ", ".join(report.templates[0].kinds)
        print(f"✓ templates OK: {kinds} rendered for {len(report.templates)} platform(s)")
        return 0
    if report.ok:
        print(f"✓ {len(report.channels)} channel(s), configuration OK")
        return 0
    return 1


def _send_test(args: argparse.Namespace) -> int:
    from erralert.channels.registry import parse_webhook
    from erralert.cli.checkup import send_test

    options = _options(args)
    webhooks = options.get("webhooks") or []
    if not webhooks:
        _fail("send-test: no webhook configured: set ERRALERT_WEBHOOKS or pass --webhook URL", 1)
    channels = [parse_webhook(url) for url in webhooks]
    results = send_test(channels, options, timeout=args.timeout)
    for result in results:
        route = f" [{result.route}]" if result.route else ""
        print(f"{'✓' if result.accepted else '✗'} {result.channel}: {result.words}{route}")
    return 0 if all(r.accepted for r in results) else 1


def _export(args: argparse.Namespace) -> int:
    from erralert._render.renderer import default_template_dir

    source = default_template_dir()
    target = Path(args.directory)
    files = sorted(p.relative_to(source) for p in source.rglob("*.j2"))
    clashes = [f for f in files if (target / f).exists()]
    if clashes and not args.force:
        _fail(
            f"{target} already has {', '.join(map(str, clashes[:5]))}"
            f"{' …' if len(clashes) > 5 else ''}: pass --force to overwrite",
            1,
        )
    for relative in files:
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / relative, target / relative)
    print(f"copied {len(files)} templates to {target}/")
    print(
        "Edit the ones you want to change and delete the rest (a file replaces the default "
        f"of the same name); then:\n  erralert preview --platform slack --template-dir {target}\n"
        f"  erralert check --template-dir {target}\n"
        f"and deploy with template_dir={str(target)!r} (or ERRALERT_TEMPLATE_DIR={target})."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
