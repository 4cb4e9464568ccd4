export const textFormats = ['markdown', 'html', 'text'] as const;
export type TextFormat = (typeof textFormats)[number];

/** One authored text in the three renderings served to clients. */
export interface RenderedText {
  markdown: string;
  html: string;
  text: string;
}

/**
 * `inline` fields (titles, questions, terms, cells) render without a wrapping paragraph when they are a single
 * paragraph; `block` fields (bodies, answers, definitions, summaries) keep their block structure.
 */
export type TextKind = 'inline' | 'block';
