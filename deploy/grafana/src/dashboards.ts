/** Every dashboard and the file its JSON goes to, in deploy/grafana/. */
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { directoryDashboard } from './directory';
import { grpcDashboard } from './grpc';
import { hostDashboard } from './host';
import { introducerDashboard } from './introducer';
import { overviewDashboard } from './overview';

export interface DashboardFile {
  /** File name in deploy/grafana/. */
  readonly file: string;
  readonly build: () => Dashboard;
}

/**
 * The SDK puts dashboard links in the "controls menu" that only the newest Grafana has; without
 * a placement every Grafana shows them in the dashboard's top bar.
 */
function linksInTopBar(dashboard: Dashboard): Dashboard {
  for (const link of dashboard.links ?? []) delete link.placement;
  return dashboard;
}

export const DASHBOARDS: readonly DashboardFile[] = [
  { file: 'grapevine-overview.json', build: () => linksInTopBar(overviewDashboard()) },
  { file: 'grapevine-directory.json', build: () => linksInTopBar(directoryDashboard()) },
  { file: 'grapevine-introducer.json', build: () => linksInTopBar(introducerDashboard()) },
  { file: 'grapevine-host.json', build: () => linksInTopBar(hostDashboard()) },
  { file: 'grapevine-grpc.json', build: () => linksInTopBar(grpcDashboard()) },
];

/** The exact text of a dashboard's JSON file. */
export const dashboardJson = (dashboard: Dashboard): string => `${JSON.stringify(dashboard, null, 2)}\n`;
