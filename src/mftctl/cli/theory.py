"""`mftctl theory`: the blobs the loss alone prefers (the ansatz), and a trained run held against them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import MftctlError
from .common import DbOption, Format, SetOption, console, err_console, print_data, resolve_runs

DEFAULT_KS = "8,11,14,17,20"
DEFAULT_AS = "1.25,1.5,1.75,2.0"


def _numbers(text: str, kind: type, option: str) -> list:
    try:
        return [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise MftctlError(
            f"{option} takes comma-separated numbers such as {DEFAULT_KS if kind is int else DEFAULT_AS}, not {text!r}"
        ) from None


def theory(
    preset: Annotated[str | None, typer.Argument(help="A preset (`mftctl presets`); default demo.")] = None,
    given: Annotated[
        str | None, typer.Option("--given", help="A trained run (id or name) held against the theory.", metavar="RUN")
    ] = None,
    epoch: Annotated[int | None, typer.Option(help="With --given: the checkpoint epoch (default: its last).")] = None,
    set_: SetOption = None,
    k: Annotated[str, typer.Option("--k", help="Outliers per hidden unit to try, comma-separated.")] = DEFAULT_KS,
    a: Annotated[str, typer.Option("--a", help="Outlier magnitudes |W1| to try, comma-separated.")] = DEFAULT_AS,
    centre_width: Annotated[
        float, typer.Option(help="σ_c: the std of every non-outlier encoder entry (the demo run measures 0.11).")
    ] = 0.1,
    samples: Annotated[
        int | None,
        typer.Option(
            help="Fresh samples each decoder solve estimates from (default 100,000 per ansatz point, 200,000 "
            "with --given; more: slower, and a loss nearer its limit)."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Where to write the loss surface figure (default ./theory-PRESET.png).")
    ] = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
    db: DbOption = None,
) -> None:
    """The blobs the loss alone prefers: an encoder of K outliers per unit at ±a (exact degrees, signs
    annealed to cancel), N(0, σ_c) elsewhere, its decoder solved exactly, minimised over K and a — the
    predicted blobs, their loss and the loss surface. With --given RUN: that run's measured K and a, its
    trained decoder blob beside the exact decoder's, and the ansatz at its own K and a (docs/science.md).

    Example: mftctl theory demo   |   mftctl theory --given 3   |   mftctl theory quick --k 4,8 --a 1,2
    """
    from ..render.records import to_json
    from ..render.views import given_theory_view, theory_view

    if samples is not None and samples < 1:
        raise MftctlError(f"--samples {samples} must be at least 1")
    if given is not None:
        if preset is not None or set_:
            raise MftctlError("--given RUN reads the run's own config: leave out the preset and --set")
        from ..analysis.theory import given_run
        from ..store import open_settled

        store = open_settled(db)
        with console.status("solving the run's decoder and the ansatz at its K and a..."):
            result = given_run(store, resolve_runs(db, [given])[0], epoch, samples)
        if format is Format.json:
            print_data(to_json(result))
        else:
            console.print(given_theory_view(result))
        return
    if epoch is not None:
        raise MftctlError("--epoch goes with --given RUN")
    from rich.progress import Progress

    from ..analysis.plots import plot_theory_surface
    from ..analysis.theory import predict_for
    from ..config_input import load_config

    name = preset or "demo"
    config = load_config(name, None, list(set_ or []))
    ks, amplitudes = _numbers(k, int, "--k"), _numbers(a, float, "--a")
    with Progress(console=err_console, transient=True, disable=format is not Format.table) as progress:
        task = progress.add_task("solving the ansatz's decoders", total=len(ks) * len(amplitudes))
        prediction = predict_for(
            config, ks, amplitudes, centre_width, samples, on_point=lambda *_: progress.advance(task)
        )
    figure = plot_theory_surface(
        prediction, f"the ansatz at {name} (d={prediction.d}, h={prediction.h})", out or Path(f"theory-{name}.png")
    )
    if format is Format.json:
        print_data(to_json({"preset": name, **prediction.as_dict(), "figure": str(figure)}))
    else:
        console.print(theory_view(prediction))
        print_data(str(figure))


def register(app: typer.Typer) -> None:
    app.command()(theory)
