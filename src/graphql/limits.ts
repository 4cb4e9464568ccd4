import {
  getNamedType,
  SchemaMetaFieldDef,
  TypeMetaFieldDef,
  TypeNameMetaFieldDef,
  GraphQLError,
  isCompositeType,
  isInterfaceType,
  isIntrospectionType,
  isObjectType,
  Kind,
  Lexer,
  NoSchemaIntrospectionCustomRule,
  Source,
  TokenKind,
  type ArgumentNode,
  type ASTNode,
  type ASTVisitor,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';
import { AppError, type ErrorCode } from '../errors.js';
import { isConnection, type ListBounds } from './list-bounds.js';

export interface QueryLimits {
  maxDepth: number;
  maxAliases: number;
  maxCost: number;
  /** How long each list field can be: the multiplier of everything selected below it. */
  listBounds: ListBounds;
}

/** Per-unit measurements of a selection set: multiply `cost` by how many times the set is resolved. */
interface Measure {
  cost: number;
  depth: number;
  aliases: number;
}

const none: Measure = { cost: 0, depth: 0, aliases: 0 };

type Report = (code: ErrorCode, message: string, node: ASTNode) => void;

/**
 * Measures one operation: cost is fields x list sizes, where each field costs 1 for every time it will be
 * resolved and a list multiplies what is below it by its real maximum (ListBounds), or by the literal page size
 * it is given. Fragments are measured once per set of enclosing types and reused, so nested fragment spreads
 * cannot make the analysis itself exponential. Introspection fields are not counted: their size is bounded by the
 * schema, and introspection can be switched off separately.
 *
 * Selecting an object type again below itself (module -> flashcards -> module) is refused: in this schema such a
 * path only re-enters the object already being read, and it is what lets a short query multiply its answer.
 */
export function measureOperation(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  limits: Pick<QueryLimits, 'listBounds'>,
  report: Report,
): Measure {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const fragmentMeasures = new Map<string, Measure>();
  const visiting = new Set<string>();
  const reportedCycles = new Set<ASTNode>();

  function measureFragment(name: string, enclosing: readonly string[]): Measure {
    const cacheKey = `${name}|${[...enclosing].sort().join(',')}`;
    const cached = fragmentMeasures.get(cacheKey);
    if (cached) return cached;
    const fragment = fragments.get(name);
    // Unknown or cyclic fragments are reported by the standard rules.
    if (!fragment || visiting.has(name)) return none;
    visiting.add(name);
    const type = schema.getType(fragment.typeCondition.name.value);
    const measure = type ? measureSelections(fragment.selectionSet, type, enclosing) : none;
    visiting.delete(name);
    fragmentMeasures.set(cacheKey, measure);
    return measure;
  }

  function measureSelections(selectionSet: SelectionSetNode, parent: GraphQLNamedType, enclosing: readonly string[]): Measure {
    let cost = 0;
    let depth = 0;
    let aliases = 0;
    for (const selection of selectionSet.selections) {
      let child: Measure;
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value;
        const field = fieldOf(schema, parent, name);
        if (!field) continue;
        const returned = getNamedType(field.type);
        // Introspection costs and aliases like any field (a free `__typename` could be aliased without end); its
        // nesting (`ofType { ofType ... }`) is bounded by the schema, so it adds no depth and never counts as a cycle.
        const introspection = isIntrospectionType(returned) || name === '__typename';
        let below = none;
        if (selection.selectionSet && isCompositeType(returned)) {
          if (!introspection && isObjectType(returned) && !isConnection(returned.name) && enclosing.includes(returned.name)) {
            if (!reportedCycles.has(selection)) {
              reportedCycles.add(selection);
              report(
                'MNEMO_GRAPHQL_CYCLE',
                `${parent.name}.${name} selects a ${returned.name} again inside a ${returned.name}; ask for it at the top level instead`,
                selection,
              );
            }
          } else {
            const inside = isObjectType(returned) && !isConnection(returned.name) ? [...enclosing, returned.name] : enclosing;
            below = measureSelections(selection.selectionSet, returned, inside);
          }
        }
        child = {
          cost: 1 + listSize(parent, field, selection.arguments ?? []) * below.cost,
          depth: introspection ? 0 : 1 + below.depth,
          aliases: (selection.alias ? 1 : 0) + below.aliases,
        };
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const type = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : parent;
        child = type ? measureSelections(selection.selectionSet, type, enclosing) : none;
      } else {
        child = measureFragment(selection.name.value, enclosing);
      }
      cost += child.cost;
      depth = Math.max(depth, child.depth);
      aliases += child.aliases;
    }
    return { cost, depth, aliases };
  }

  function listSize(parent: GraphQLNamedType, field: GraphQLField<unknown, unknown>, args: readonly ArgumentNode[]): number {
    // A connection's list is already counted by the page argument of the field that returned the connection.
    if (isConnection(parent.name)) return 1;
    const bound = limits.listBounds.get(parent.name, field.name);
    if (bound === undefined) return 1;
    if (typeof bound === 'number') return bound;
    const given = args.find((arg) => arg.name.value === bound.argument)?.value;
    if (given?.kind === Kind.INT) {
      const value = Number(given.value);
      if (value < 1 || value > bound.max) {
        report('MNEMO_GRAPHQL_VALIDATION', `${bound.argument} must be between 1 and ${bound.max}; got ${value}`, given);
      }
      return Math.min(Math.max(0, value), bound.max);
    }
    // A variable, or the argument's default when it is omitted; both are checked against the same bound later.
    const defaultValue = field.args.find((arg) => arg.name === bound.argument)?.defaultValue;
    return given === undefined && typeof defaultValue === 'number' ? Math.min(defaultValue, bound.max) : bound.max;
  }

  const root = schema.getRootType(operation.operation);
  return root ? measureSelections(operation.selectionSet, root, []) : none;
}

/** A field of a type, the meta fields (`__typename`, `__schema`, `__type`) included. */
function fieldOf(schema: GraphQLSchema, parent: GraphQLNamedType, name: string): GraphQLField<unknown, unknown> | undefined {
  if (name === '__typename') return TypeNameMetaFieldDef;
  if (parent === schema.getQueryType() && name === '__schema') return SchemaMetaFieldDef;
  if (parent === schema.getQueryType() && name === '__type') return TypeMetaFieldDef;
  return isObjectType(parent) || isInterfaceType(parent) ? parent.getFields()[name] : undefined;
}

/**
 * One operation per document. Mercurius compiles a document once (graphql-jit) for the operation it first ran, so
 * a document holding a query and a mutation could later run the mutation whatever operationName asks for; with one
 * operation, what runs is what was sent.
 */
export const singleOperationRule: ValidationRule = (context) => ({
  Document(document) {
    const operations = document.definitions.filter((definition) => definition.kind === Kind.OPERATION_DEFINITION);
    if (operations.length > 1) {
      context.reportError(
        new GraphQLError(`send one operation per document; this one defines ${operations.length}`, {
          nodes: operations[1],
          extensions: { code: 'MNEMO_GRAPHQL_VALIDATION' satisfies ErrorCode },
        }),
      );
    }
  },
});

/** One validation rule for depth, aliases, cost and cycles, so an over-limit query is rejected before any resolver runs. */
export function queryLimitsRule(limits: QueryLimits): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
    const report: Report = (code, message, node) => context.reportError(new GraphQLError(message, { nodes: node, extensions: { code } }));
    return {
      OperationDefinition(operation) {
        const measure = measureOperation(context.getSchema(), context.getDocument(), operation, limits, report);
        const name = operation.name?.value ?? 'anonymous operation';
        if (measure.depth > limits.maxDepth) {
          report('MNEMO_GRAPHQL_TOO_DEEP', `${name} has depth ${measure.depth}; the limit is ${limits.maxDepth}`, operation);
        }
        if (measure.aliases > limits.maxAliases) {
          report('MNEMO_GRAPHQL_TOO_MANY_ALIASES', `${name} uses ${measure.aliases} aliases; the limit is ${limits.maxAliases}`, operation);
        }
        if (measure.cost > limits.maxCost) {
          report(
            'MNEMO_GRAPHQL_TOO_COSTLY',
            `${name} has an estimated cost of ${measure.cost}; the limit is ${limits.maxCost} (ask for fewer items per page or fewer fields)`,
            operation,
          );
        }
      },
    };
  };
}

/**
 * graphql-js's NoSchemaIntrospectionCustomRule with mnemo's error code: `__schema` and `__type` are refused when
 * introspection is off (`__typename` stays allowed). The graphql-js rule reports every field of an introspection
 * type; only the entry points are reported here (their parent is not an introspection type), one error each.
 */
export const noIntrospectionRule: ValidationRule = (context) => {
  const reportError = (error: GraphQLError) => {
    const parent = context.getParentType();
    if (parent && isIntrospectionType(parent)) return;
    context.reportError(
      new GraphQLError(error.message, {
        nodes: error.nodes,
        extensions: { ...error.extensions, code: 'MNEMO_GRAPHQL_INTROSPECTION_DISABLED' satisfies ErrorCode },
      }),
    );
  };
  // The rule reads types through the context it is given: a view of the real one whose reportError adds the code.
  return NoSchemaIntrospectionCustomRule(Object.create(context, { reportError: { value: reportError } }) as ValidationContext);
};

/** Selections, list values and input objects nested in one another in a document; the depth limit is far below. */
export const maxDocumentNesting = 64;

const opening = new Set<TokenKind>([TokenKind.BRACE_L, TokenKind.BRACKET_L, TokenKind.PAREN_L]);
const closing = new Set<TokenKind>([TokenKind.BRACE_R, TokenKind.BRACKET_R, TokenKind.PAREN_R]);

/**
 * Rejects, before graphql-js parses, a document of more than `maxTokens` lexical tokens (counted as graphql-js
 * does: comments excluded) or nested more than `maxDocumentNesting` levels of braces, brackets and parentheses
 * (the parser recurses: 2,000 nested list values within the token limit overflowed the stack). One pass of
 * graphql-js's own lexer, which is iterative and knows comments and block strings. A document shorter than
 * either limit cannot break it and is not lexed.
 */
export function assertDocumentLimits(query: string, maxTokens: number): void {
  if (query.length <= Math.min(maxTokens, maxDocumentNesting)) return;
  const lexer = new Lexer(new Source(query));
  let tokens = 0;
  let depth = 0;
  try {
    for (let token = lexer.advance(); token.kind !== TokenKind.EOF; token = lexer.advance()) {
      if (++tokens > maxTokens) {
        throw new AppError('MNEMO_GRAPHQL_TOO_MANY_TOKENS', `the document has more than ${maxTokens} tokens`);
      }
      if (opening.has(token.kind) && ++depth > maxDocumentNesting) {
        throw new AppError('MNEMO_GRAPHQL_TOO_DEEP', `the document nests more than ${maxDocumentNesting} levels of braces, brackets and parentheses (line ${token.line})`);
      }
      if (closing.has(token.kind)) depth = Math.max(0, depth - 1);
    }
  } catch (error) {
    // A lexing error is a syntax error; the parser reports it with its location.
    if (error instanceof AppError) throw error;
  }
}
