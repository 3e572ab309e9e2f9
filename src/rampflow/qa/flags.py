"""``rampflow flags``: decode a DQ value into JWST mnemonics, or encode mnemonics into a value.

    rampflow flags 2147483649          ->  DO_NOT_USE, REFERENCE_PIXEL
    rampflow flags SATURATED JUMP_DET  ->  6
    rampflow flags 0x80000001          ->  DO_NOT_USE, REFERENCE_PIXEL
    rampflow flags --list              ->  every bit with its mnemonic

Numbers may be decimal, hexadecimal (0x...) or binary (0b...); mnemonics are
case-insensitive and may also be joined with ``+``, ``|`` or ``,``.
"""

from __future__ import annotations

import argparse
import sys

from .. import dq


def _as_number(text: str) -> int | None:
    t = text.strip().lower()
    try:
        if t.startswith(("0x", "0b", "0o")):
            return int(t, 0)
        return int(t)
    except ValueError:
        return None


def decode_text(value: int) -> str:
    """Mnemonics of ``value`` joined with ', ' (``GOOD`` for 0)."""
    names = dq.decode(value)
    return ", ".join(names) if names else "GOOD"


def _configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("items", nargs="*", help="one DQ value (decimal, 0x..., 0b...), or mnemonics")
    parser.add_argument("--list", action="store_true", help="list every DQ bit and its mnemonic")
    return parser


def _run(args, parser) -> int:
    if args.list:
        for name, bit in dq.FLAGS.items():
            if bit:
                print(f"{bit.bit_length() - 1:2d}  {bit:>10d}  {name}")
        return 0
    if not args.items:
        parser.print_usage(sys.stderr)
        print("rampflow flags: give a DQ value or one or more mnemonics", file=sys.stderr)
        return 2
    numbers = [_as_number(x) for x in args.items]
    try:
        if all(n is not None for n in numbers):
            if len(numbers) != 1:
                # several numbers: decode each on its own line
                for text, n in zip(args.items, numbers):
                    print(f"{text}: {decode_text(n)}")
            else:
                print(decode_text(numbers[0]))
            return 0
        if any(n is not None for n in numbers):
            raise ValueError("give either one DQ value or mnemonics, not both")
        print(dq.encode(",".join(args.items)))
        return 0
    except ValueError as exc:
        print(f"rampflow flags: {exc}", file=sys.stderr)
        return 2


_DESCRIPTION = "Decode a JWST DQ value into mnemonics, or encode mnemonics into a value."


def flags_main(argv=None) -> int:
    """Entry point of ``rampflow flags``; prints the answer, returns the exit code."""
    parser = _configure(argparse.ArgumentParser(prog="rampflow flags", description=_DESCRIPTION))
    return _run(parser.parse_args(argv), parser)


def add_subcommand(sub) -> None:
    """Register ``rampflow flags`` on the CLI's subparsers (an ``argparse`` sub-parsers object)."""
    parser = _configure(sub.add_parser("flags", help="decode a DQ value into mnemonics, or encode mnemonics",
                                       description=_DESCRIPTION))
    parser.set_defaults(func=lambda args: _run(args, parser))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(flags_main())

