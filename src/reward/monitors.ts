/**
 * Reward-hacking monitors (paper: copying the incoming order, and position bias).
 * identity rate: share of outputs equal to the incoming order;
 * top-1 position histogram: where in the *shown* list the chosen top-1 sat (a policy with a
 * position bias piles up at position 1 whatever the content).
 */
export interface RolloutOutcome {
  /** The model's order as candidate indices in the incoming (upstream) order, or null when invalid. */
  order: number[] | null;
  /** Incoming index → shown position (identity when candidates are not shuffled). */
  shownPosition?: readonly number[];
}

export interface MonitorStats {
  valid_rate: number;
  identity_rate: number;
  /** top1_position_hist[p] = share of valid outputs whose top-1 was shown at position p+1. */
  top1_position_hist: number[];
}

export function monitor(outcomes: readonly RolloutOutcome[], listSize: number): MonitorStats {
  let valid = 0;
  let identity = 0;
  const hist = new Array<number>(listSize).fill(0);
  for (const o of outcomes) {
    if (!o.order) continue;
    valid++;
    if (o.order.every((v, i) => v === i)) identity++;
    const top = o.order[0]!;
    hist[o.shownPosition ? o.shownPosition[top]! : top]! += 1;
  }
  const n = outcomes.length || 1;
  return {
    valid_rate: valid / n,
    identity_rate: identity / n,
    top1_position_hist: hist.map((h) => (valid ? h / valid : 0)),
  };
}
