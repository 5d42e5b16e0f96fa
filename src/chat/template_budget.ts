// A Jinja interpreter with a budget, so that a chat template cannot hang or exhaust memory: it may take
// so many evaluation steps, produce so many characters in all (every value its steps return, which
// bounds the output and the work of building it) and run so long, then rendering stops with a
// one-line FormatError. Real templates use a small fraction of each limit.

import { Interpreter } from "@huggingface/jinja";
import { FormatError } from "../errors.ts";

export interface TemplateBudget {
  /** Evaluation steps (one per node evaluated). */
  readonly steps: number;
  /** Characters of all string values the steps return, added up. */
  readonly chars: number;
  /** Wall-clock time, checked every 4096 steps. */
  readonly ms: number;
}

export const TEMPLATE_BUDGET: TemplateBudget = { steps: 1_000_000, chars: 1 << 28, ms: 8_000 };

/** The most items range() may produce. */
export const MAX_RANGE = 1_000_000;

type Statement = Parameters<Interpreter["evaluate"]>[0];
type Scope = Parameters<Interpreter["evaluate"]>[1];
type Value = ReturnType<Interpreter["evaluate"]>;

export class BudgetedInterpreter extends Interpreter {
  private steps = 0;
  private chars = 0;
  private readonly deadline: number;

  constructor(env: Scope, private readonly name: string, private readonly budget = TEMPLATE_BUDGET) {
    super(env);
    this.deadline = performance.now() + budget.ms;
  }

  override evaluate(statement: Statement, environment: Scope): Value {
    if (++this.steps > this.budget.steps) this.over(`${this.budget.steps} evaluation steps`);
    if ((this.steps & 4095) === 0 && performance.now() > this.deadline) {
      this.over(`${this.budget.ms / 1000} s`);
    }
    const value = super.evaluate(statement, environment);
    if (typeof value.value === "string") {
      this.chars += value.value.length;
      if (this.chars > this.budget.chars) this.over(`${this.budget.chars} characters of output`);
    }
    return value;
  }

  private over(what: string): never {
    throw new FormatError(`${this.name}: rendering stopped after ${what} (the template loops too much)`);
  }
}
