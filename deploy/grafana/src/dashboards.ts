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

export const DASHBOARDS: readonly DashboardFile[] = [
  { file: 'grapevine-overview.json', build: overviewDashboard },
  { file: 'grapevine-directory.json', build: directoryDashboard },
  { file: 'grapevine-introducer.json', build: introducerDashboard },
  { file: 'grapevine-host.json', build: hostDashboard },
  { file: 'grapevine-grpc.json', build: grpcDashboard },
];

/** The exact text of a dashboard's JSON file. */
export const dashboardJson = (dashboard: Dashboard): string => `${JSON.stringify(dashboard, null, 2)}\n`;
