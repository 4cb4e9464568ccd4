import validation from 'xapi-validation';

type Validate = (statement: unknown) => { message?: string; path?: string[] }[];

// A CommonJS module whose export is `default`: Node's interop and Vite's differ on where that ends up.
const validate: Validate = ((validation as unknown as { default?: Validate }).default ?? validation) as Validate;

/** Problems the maintained xAPI validator (LearningLocker's xapi-validation) finds in a statement; [] when valid. */
export const validateStatement = (statement: unknown): unknown[] => validate(statement);
