"""HTTP beside the Streamlit app: sign-in pages and the guard in front of everything else."""
