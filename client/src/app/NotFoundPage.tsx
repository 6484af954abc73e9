import { Link } from 'react-router';
import { EmptyState, useDocumentTitle } from '../components/ui.js';

export default function NotFoundPage() {
  useDocumentTitle('Not found');
  return (
    <div className="card">
      <EmptyState
        title="There is no page here"
        action={
          <Link to="/runs" className="btn btn-primary">
            Go to runs
          </Link>
        }
      >
        The address may be mistyped, or the link is from an older version. Runs live at /runs/&lt;id&gt;.
      </EmptyState>
    </div>
  );
}
