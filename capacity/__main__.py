"""`python -m capacity --rate 100 [--region R] [--message-bytes B]`: `make capacity`."""

import argparse
import sys
from pathlib import Path

from capacity import measured, model, prices, table

# A captured randomuser user as the producer publishes it (credentials stripped, attributes
# included): 877 + 117 bytes on average over tests/data/randomuser.
MESSAGE_BYTES = 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m capacity", description=__doc__)
    parser.add_argument("--rate", type=float, required=True, help="customers per second")
    parser.add_argument("--region", default=prices.FALLBACK_REGION, help="Dataflow region")
    parser.add_argument("--message-bytes", type=int, default=MESSAGE_BYTES, help="per message")
    parser.add_argument(
        "--bench-results", default=measured.RESULTS, type=Path, help="make bench-pipeline's file"
    )
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.message_bytes <= 0:
        parser.error("--rate and --message-bytes must be positive")
    try:
        book = prices.load(args.region)
        bench = measured.load(args.bench_results)
    except (prices.PriceError, measured.MeasurementError) as error:
        print(f"python -m capacity: error: {error}", file=sys.stderr)
        return 2
    inputs = model.Inputs(args.rate, args.message_bytes, bench.whole_graph_us)
    print(table.render(inputs, book, bench))
    return 0


if __name__ == "__main__":
    sys.exit(main())
