import { NotFoundCard, useDocumentTitle } from '../components/ui.js';

export default function NotFoundPage() {
  useDocumentTitle('Not found');
  return (
    <NotFoundCard title="There is no page here" back={{ to: '/runs', label: 'Go to runs' }}>
      The address may be mistyped, or the link is from an older version. Runs live at /runs/&lt;id&gt;.
    </NotFoundCard>
  );
}
