import { z } from 'zod';

/*
 * Shapes shared by the config layer and the plugins it hosts (a balancer's
 * cluster section names clusters and ports too): below both, so neither
 * imports the other.
 */

/**
 * An item name becomes a znode or etcd key segment, an HAProxy section name
 * and a metric label: `.` and `..` would be path steps, not names.
 */
export const CLUSTER_NAME = /^(?!\.{1,2}$)[A-Za-z0-9_.-]+$/;

export function isItemName(name: unknown): name is string {
  return typeof name === 'string' && CLUSTER_NAME.test(name);
}

export const ITEM_NAME_RULE = 'letters, digits, "_", "." and "-", and not "." or ".."';

export const portSchema = z.number().int().min(1).max(65535);
