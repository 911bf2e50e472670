"""PostgreSQL storage: models, repositories, the unit of work and the migrations."""
