"""A picture of a memory plan: every buffer as a box over the steps it is alive (x) and the
arena bytes it occupies (y); buffers that overlap their input by design are marked."""

from __future__ import annotations

from pathlib import Path


def plot_memory_plan(plan: dict, path: Path, title: str = "memory plan") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    buffers = plan["buffers"]
    steps = max(b["last_step"] for b in buffers) + 1 if buffers else 1
    fig, ax = plt.subplots(figsize=(11, 5.5), dpi=110)
    for b in buffers:
        scratch = b["kind"] == "scratch"
        overlapping = "overlaps_input" in b
        color = "#bbbbbb" if scratch else ("#e8873a" if overlapping else "#4a7fb5")
        ax.add_patch(Rectangle((b["first_step"], b["offset"]), b["last_step"] - b["first_step"] + 1,
                               b["bytes"], facecolor=color, edgecolor="black", linewidth=0.4,
                               alpha=0.75))
    ax.axhline(plan["arena_bytes"], color="red", linewidth=1, linestyle="--")
    ax.text(0.2, plan["arena_bytes"], f" arena {plan['arena_bytes']:,} B", color="red",
            va="bottom", fontsize=9)
    ax.set_xlim(0, steps + 0.5)
    ax.set_ylim(0, plan["arena_bytes"] * 1.08 + 16)
    ax.set_xlabel("layer (step)")
    ax.set_ylabel("arena offset (bytes)")
    ax.set_title(title)
    handles = [Rectangle((0, 0), 1, 1, facecolor=c, alpha=0.75) for c in ("#4a7fb5", "#e8873a", "#bbbbbb")]
    ax.legend(handles, ["activation", "activation overlapping its input (allowed by the kernel)",
                        "kernel scratch"], loc="upper right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
