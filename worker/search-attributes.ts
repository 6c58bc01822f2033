/**
 * Registers klaviyo-sync's search attributes on the namespace if they are missing, and says whether they are
 * there. Workflows set them only when they are: an unregistered attribute would fail every workflow task.
 */
import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from '../workflows/shared';

interface OperatorService {
  listSearchAttributes(req: { namespace: string }): Promise<{ customAttributes?: Record<string, unknown> | null }>;
  addSearchAttributes(req: { namespace: string; searchAttributes: Record<string, number> }): Promise<unknown>;
}

export async function ensureSearchAttributes(operator: OperatorService, namespace: string): Promise<boolean> {
  try {
    const have = (await operator.listSearchAttributes({ namespace })).customAttributes ?? {};
    const missing = Object.keys(SEARCH_ATTRIBUTES).filter((k) => !(k in have));
    if (missing.length === 0) return true;
    const keyword = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
    await operator.addSearchAttributes({ namespace, searchAttributes: Object.fromEntries(missing.map((k) => [k, keyword])) });
    return true;
  } catch {
    // e.g. Temporal Cloud, where attributes are managed in its console: run without them
    return false;
  }
}
