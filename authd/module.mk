# authd/
