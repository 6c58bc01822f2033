/** Search attributes klaviyo-sync sets, so runs can be listed per replication and stream in the UI and CLI. */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const KLAVIYO_REPLICATION = defineSearchAttributeKey('KlaviyoReplication', SearchAttributeType.KEYWORD);
export const KLAVIYO_STREAM = defineSearchAttributeKey('KlaviyoStream', SearchAttributeType.KEYWORD);

/** For `temporal server start-dev --search-attribute` and `temporal operator search-attribute create`. */
export const SEARCH_ATTRIBUTES: Record<string, 'Keyword'> = { KlaviyoReplication: 'Keyword', KlaviyoStream: 'Keyword' };
