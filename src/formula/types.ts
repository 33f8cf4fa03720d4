// The formula schema (spec beads §6.1 and Gas Town's variant §6.2), merged into one model.
import { GtError } from '../errors.ts';

export type FormulaType = 'workflow' | 'expansion' | 'aspect' | 'convoy';
export const FORMULA_TYPES: FormulaType[] = ['workflow', 'expansion', 'aspect', 'convoy'];

export interface VarDef {
  description?: string;
  /** Absent and "" differ: "" is a default (spec §6.3). */
  default?: string;
  required?: boolean;
  enum?: string[];
  pattern?: string;
  type?: string;
}

export interface GateSpec {
  type: string;
  id?: string;
  await_id?: string;
  timeout?: string;
  condition?: string;
}

export interface LoopSpec {
  count?: number;
  until?: string;
  max?: number;
  range?: string;
  var?: string;
  body: Step[];
}

export interface OnComplete {
  for_each?: string;
  bond?: string;
  vars?: Record<string, string>;
  parallel?: boolean;
  sequential?: boolean;
}

export interface Step {
  id: string;
  title?: string;
  description?: string;
  notes?: string;
  type?: string;
  priority?: number;
  labels?: string[];
  metadata?: Record<string, unknown>;
  depends_on?: string[];
  needs?: string[];
  waits_for?: string;
  assignee?: string;
  condition?: string;
  children?: Step[];
  gate?: GateSpec;
  loop?: LoopSpec;
  expand?: string;
  expand_vars?: Record<string, string>;
  on_complete?: OnComplete;
  acceptance?: string;
  parallel?: boolean;
  interactive?: boolean;
  /** This project's convention: a shell command the scripted agent runs for this step. */
  run?: string;
}

export interface AdviceStep {
  id: string;
  title?: string;
  description?: string;
  type?: string;
  args?: Record<string, string>;
  output?: Record<string, string>;
}

export interface AdviceRule {
  target: string;
  before?: AdviceStep;
  after?: AdviceStep;
  around?: { before?: AdviceStep[]; after?: AdviceStep[] };
}

export interface ComposeRules {
  bond_points?: {
    id: string;
    description?: string;
    after_step?: string;
    before_step?: string;
    parallel?: boolean;
  }[];
  hooks?: { trigger: string; attach: string; at?: string; vars?: Record<string, string> }[];
  expand?: { target: string; with: string; vars?: Record<string, string> }[];
  map?: { select: string; with: string; vars?: Record<string, string> }[];
  branch?: { from: string; steps: string[]; join: string }[];
  gate?: { before: string; condition: string }[];
  aspects?: string[];
}

export interface ConvoyInput {
  description?: string;
  type?: string;
  required?: boolean;
  required_unless?: string[];
  default?: string;
}

export interface Leg {
  id: string;
  title?: string;
  focus?: string;
  description?: string;
  agent?: string;
  review_only?: boolean;
}

export interface Formula {
  formula: string;
  description?: string;
  version: number;
  type: FormulaType;
  extends?: string[];
  phase?: 'liquid' | 'vapor';
  pour?: boolean;
  agent?: string;
  review_only?: boolean;
  vars: Record<string, VarDef>;
  steps: Step[];
  template: Step[];
  advice: AdviceRule[];
  pointcuts: { glob?: string; type?: string; label?: string }[];
  compose?: ComposeRules;
  aspects: { id: string; title?: string; focus?: string; description?: string }[];
  inputs?: Record<string, ConvoyInput>;
  prompts?: Record<string, string>;
  output?: { directory?: string; leg_pattern?: string; synthesis?: string };
  legs: Leg[];
  synthesis?: { title?: string; description?: string; depends_on?: string[] };
  /** Tables the parsers of the original ignore but real files carry (kept, not interpreted). */
  presets?: unknown;
  squash?: unknown;
  /** Where it was read from. */
  source: string;
}

export class FormulaError extends GtError {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(
      problems.length === 1
        ? `${file}: ${problems[0]}`
        : `${file}: ${problems.length} problems:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
}
